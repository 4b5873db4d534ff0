// The extern "C" shim over dlib 19.24 (Debian libdlib-dev): follows dlib's tools/python/src/object_detection.cpp
// (`run_detector_with_upscale1`, the RGB branch) and shape_predictor.cpp. Exceptions never cross into Swift.
#include "dlib_shim.h"

#include <memory>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include "dlib_shim_common.h"

using dlib_shim::copy_image;
using dlib_shim::guarded;

struct ds_detector { dlib::frontal_face_detector detector; };
struct ds_predictor { dlib::shape_predictor predictor; };

extern "C" {

ds_detector *ds_detector_create(char *err, int errlen) {
    ds_detector *d = nullptr;
    guarded(err, errlen, [&] {
        d = new ds_detector{dlib::get_frontal_face_detector()};
        return 0;
    });
    return d;
}

void ds_detector_free(ds_detector *d) { delete d; }

int ds_detect(ds_detector *d, const uint8_t *rgb, int width, int height, int upsample, double adjust_threshold,
              int capacity, int64_t *rects, double *scores, char *err, int errlen) {
    return guarded(err, errlen, [&] {
        dlib::array2d<dlib::rgb_pixel> img;
        copy_image(rgb, width, height, img);
        std::vector<dlib::rect_detection> dets;
        dlib::pyramid_down<2> pyr;
        if (upsample == 0) {
            d->detector(img, dets, adjust_threshold);
        } else {
            dlib::array2d<dlib::rgb_pixel> up;
            dlib::pyramid_up(img, up, pyr);
            for (int level = 1; level < upsample; ++level) { dlib::pyramid_up(up); }
            d->detector(up, dets, adjust_threshold);
            for (auto &r : dets) { r.rect = pyr.rect_down(r.rect, upsample); }
        }
        for (size_t i = 0; i < dets.size() && (int)i < capacity; ++i) {
            rects[4 * i] = dets[i].rect.left();
            rects[4 * i + 1] = dets[i].rect.top();
            rects[4 * i + 2] = dets[i].rect.right();
            rects[4 * i + 3] = dets[i].rect.bottom();
            scores[i] = dets[i].detection_confidence;
        }
        return (int)dets.size();
    });
}

ds_predictor *ds_predictor_load(const char *path, char *err, int errlen) {
    ds_predictor *p = nullptr;
    guarded(err, errlen, [&] {
        auto loaded = std::make_unique<ds_predictor>();
        dlib::deserialize(path) >> loaded->predictor;
        p = loaded.release();
        return 0;
    });
    return p;
}

void ds_predictor_free(ds_predictor *p) { delete p; }

int ds_predictor_parts(const ds_predictor *p) { return (int)p->predictor.num_parts(); }

int ds_landmarks(const ds_predictor *p, const uint8_t *rgb, int width, int height, const int64_t *rect,
                 int64_t *parts, char *err, int errlen) {
    return guarded(err, errlen, [&] {
        dlib::array2d<dlib::rgb_pixel> img;
        copy_image(rgb, width, height, img);
        dlib::full_object_detection shape = p->predictor(img, dlib::rectangle(rect[0], rect[1], rect[2], rect[3]));
        for (unsigned long i = 0; i < shape.num_parts(); ++i) {
            parts[2 * i] = shape.part(i).x();
            parts[2 * i + 1] = shape.part(i).y();
        }
        return 0;
    });
}

}  // extern "C"
