// The extern "C" shim over dlib 19.24 (Debian libdlib-dev): follows dlib's tools/python/src/object_detection.cpp
// (`run_detector_with_upscale1`, the RGB branch) and shape_predictor.cpp. Exceptions never cross into Swift.
#include "dlib_shim.h"

#include <cstdio>
#include <exception>
#include <vector>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

struct ds_detector { dlib::frontal_face_detector detector; };
struct ds_predictor { dlib::shape_predictor predictor; };

static int fail(char *err, int errlen, const char *what) {
    if (err && errlen > 0) { std::snprintf(err, errlen, "%s", what); }
    return -1;
}

/// The caller's interleaved RGB pixels as a dlib image (one copy; the detector itself needs array2d).
static void copy_image(const uint8_t *rgb, int width, int height, dlib::array2d<dlib::rgb_pixel> &img) {
    img.set_size(height, width);
    for (long y = 0; y < height; ++y) {
        const uint8_t *row = rgb + (size_t)y * width * 3;
        for (long x = 0; x < width; ++x) { img[y][x] = dlib::rgb_pixel(row[3 * x], row[3 * x + 1], row[3 * x + 2]); }
    }
}

extern "C" {

ds_detector *ds_detector_create(char *err, int errlen) {
    try {
        return new ds_detector{dlib::get_frontal_face_detector()};
    } catch (const std::exception &e) {
        fail(err, errlen, e.what());
    } catch (...) {
        fail(err, errlen, "unknown dlib error");
    }
    return nullptr;
}

void ds_detector_free(ds_detector *d) { delete d; }

int ds_detect(ds_detector *d, const uint8_t *rgb, int width, int height, int upsample, double adjust_threshold,
              int capacity, int64_t *rects, double *scores, char *err, int errlen) {
    try {
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
    } catch (const std::exception &e) {
        return fail(err, errlen, e.what());
    } catch (...) {
        return fail(err, errlen, "unknown dlib error");
    }
}

ds_predictor *ds_predictor_load(const char *path, char *err, int errlen) {
    try {
        auto *p = new ds_predictor;
        try {
            dlib::deserialize(path) >> p->predictor;
        } catch (...) {
            delete p;
            throw;
        }
        return p;
    } catch (const std::exception &e) {
        fail(err, errlen, e.what());
    } catch (...) {
        fail(err, errlen, "unknown dlib error");
    }
    return nullptr;
}

void ds_predictor_free(ds_predictor *p) { delete p; }

int ds_predictor_parts(const ds_predictor *p) { return (int)p->predictor.num_parts(); }

int ds_landmarks(const ds_predictor *p, const uint8_t *rgb, int width, int height, const int64_t *rect,
                 int64_t *parts, char *err, int errlen) {
    try {
        dlib::array2d<dlib::rgb_pixel> img;
        copy_image(rgb, width, height, img);
        dlib::full_object_detection shape = p->predictor(img, dlib::rectangle(rect[0], rect[1], rect[2], rect[3]));
        for (unsigned long i = 0; i < shape.num_parts(); ++i) {
            parts[2 * i] = shape.part(i).x();
            parts[2 * i + 1] = shape.part(i).y();
        }
        return 0;
    } catch (const std::exception &e) {
        return fail(err, errlen, e.what());
    } catch (...) {
        return fail(err, errlen, "unknown dlib error");
    }
}

}  // extern "C"
