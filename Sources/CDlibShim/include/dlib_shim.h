// A small C interface to Debian's libdlib (19.24): the HOG frontal face detector, the 68-point shape
// predictor and the ResNet face recogniser, exactly as dlib's Python binding calls them
// (tools/python/src/object_detection.cpp run_detector_with_upscale1; shape_predictor.cpp; face_recognition.cpp).
// Every call catches C++ exceptions and reports them through `err` (a buffer of `errlen` bytes); functions
// return -1 on failure.
#ifndef DLIB_SHIM_H
#define DLIB_SHIM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ds_detector ds_detector;
typedef struct ds_predictor ds_predictor;
typedef struct ds_recognizer ds_recognizer;

/// dlib::get_frontal_face_detector(). Not safe to use from two threads at once.
ds_detector *ds_detector_create(char *err, int errlen);
void ds_detector_free(ds_detector *d);

/// Python's `detector(img, upsample)`: `pyramid_up(img, up, pyramid_down<2>)` `upsample` times, the detector
/// on the result with `adjust_threshold`, rectangles mapped back with `pyramid_down<2>::rect_down`.
/// `rgb` is width×height interleaved RGB. Writes up to `capacity` detections, best first: `rects` [4 each:
/// left, top, right, bottom, inclusive] and `scores`; returns how many there are (more than `capacity` when
/// the buffers were too small), or -1.
int ds_detect(ds_detector *d, const uint8_t *rgb, int width, int height, int upsample, double adjust_threshold,
              int capacity, int64_t *rects, double *scores, char *err, int errlen);

/// dlib::shape_predictor deserialised from `path` (e.g. /usr/share/dlib/shape_predictor_68_face_landmarks.dat).
/// Safe to share between threads.
ds_predictor *ds_predictor_load(const char *path, char *err, int errlen);
void ds_predictor_free(ds_predictor *p);
int ds_predictor_parts(const ds_predictor *p);

/// `predictor(img, rect)`: the landmarks of the face in `rect` (left, top, right, bottom), `parts` [2 each:
/// x, y] for ds_predictor_parts(p) points. Returns 0, or -1.
int ds_landmarks(const ds_predictor *p, const uint8_t *rgb, int width, int height, const int64_t *rect,
                 int64_t *parts, char *err, int errlen);

/// dlib's face recogniser: the ResNet of examples/dnn_face_recognition_ex.cpp deserialised from `model`
/// (dlib_face_recognition_resnet_model_v1.dat) and the shape predictor that places its face chips (`shape_predictor`,
/// shape_predictor_5_face_landmarks.dat; a 68-point one is accepted too). Not safe to use from two threads at once.
ds_recognizer *ds_recognizer_load(const char *model, const char *shape_predictor, char *err, int errlen);
void ds_recognizer_free(ds_recognizer *r);

/// Python's `face_recognition_model_v1.compute_face_descriptor(img, faces)` (num_jitters 0, padding 0.25) for the
/// faces in `count` rectangles `rects` [4 each: left, top, right, bottom] of one image: the shape predictor in each
/// rectangle, `get_face_chip_details(shape, 150, 0.25)`, `extract_image_chips`, one network call (batches of 16).
/// Writes 128 floats per face to `descriptors`. Returns 0, or -1.
int ds_face_descriptors(ds_recognizer *r, const uint8_t *rgb, int width, int height, int count, const int64_t *rects,
                        float *descriptors, char *err, int errlen);

#ifdef __cplusplus
}
#endif
#endif
