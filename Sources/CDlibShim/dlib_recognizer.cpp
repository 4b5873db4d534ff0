// dlib's ResNet face recogniser (dlib_face_recognition_resnet_model_v1.dat) behind the extern "C" shim: follows
// dlib's tools/python/src/face_recognition.cpp (`face_recognition_model_v1::compute_face_descriptors`, num_jitters
// 0, padding 0.25). The network type is the one dlib publishes in examples/dnn_face_recognition_ex.cpp; its
// templates are instantiated here only, so that dlib_shim.cpp compiles without dlib/dnn.h.
#include "dlib_shim.h"

#include <memory>
#include <vector>

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_transforms.h>

#include "dlib_shim_common.h"

namespace {
using namespace dlib;

template <template <int, template <typename> class, int, typename> class block, int N, template <typename> class BN,
          typename SUBNET>
using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N, template <typename> class BN,
          typename SUBNET>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET> using ares = relu<residual<block, N, affine, SUBNET>>;
template <int N, typename SUBNET> using ares_down = relu<residual_down<block, N, affine, SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using anet_type = loss_metric<fc_no_bias<128, avg_pool_everything<
                      alevel0<alevel1<alevel2<alevel3<alevel4<
                      max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;
}  // namespace

struct ds_recognizer {
    anet_type net;
    dlib::shape_predictor predictor;
};

extern "C" {

ds_recognizer *ds_recognizer_load(const char *model, const char *shape_predictor, char *err, int errlen) {
    ds_recognizer *r = nullptr;
    dlib_shim::guarded(err, errlen, [&] {
        auto loaded = std::make_unique<ds_recognizer>();
        dlib::deserialize(model) >> loaded->net;
        dlib::deserialize(shape_predictor) >> loaded->predictor;
        const auto parts = loaded->predictor.num_parts();
        if (parts != 5 && parts != 68) {
            throw dlib::error("the shape predictor must use dlib's 5-point or the iBUG 300-W 68-point style");
        }
        r = loaded.release();
        return 0;
    });
    return r;
}

void ds_recognizer_free(ds_recognizer *r) { delete r; }

int ds_face_descriptors(ds_recognizer *r, const uint8_t *rgb, int width, int height, int count, const int64_t *rects,
                        float *descriptors, char *err, int errlen) {
    return dlib_shim::guarded(err, errlen, [&] {
        if (count <= 0) { return 0; }
        dlib::array2d<dlib::rgb_pixel> img;
        dlib_shim::copy_image(rgb, width, height, img);
        std::vector<dlib::chip_details> chips;
        for (int i = 0; i < count; ++i) {
            const int64_t *q = rects + 4 * i;
            const auto shape = r->predictor(img, dlib::rectangle(q[0], q[1], q[2], q[3]));
            chips.push_back(dlib::get_face_chip_details(shape, 150, 0.25));
        }
        dlib::array<dlib::matrix<dlib::rgb_pixel>> faces;
        dlib::extract_image_chips(img, chips, faces);
        const std::vector<dlib::matrix<float, 0, 1>> out = r->net(faces, 16);
        for (size_t i = 0; i < out.size(); ++i) {
            for (long k = 0; k < out[i].size(); ++k) { descriptors[128 * i + k] = out[i](k); }
        }
        return 0;
    });
}

}  // extern "C"
