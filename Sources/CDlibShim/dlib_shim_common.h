// Helpers shared by the shim's translation units (not part of the C interface).
#ifndef DLIB_SHIM_COMMON_H
#define DLIB_SHIM_COMMON_H
#include <stdint.h>
#include <cstdio>
#include <exception>

#include <dlib/image_processing.h>

namespace dlib_shim {

/// Writes `what` into the caller's error buffer; returns -1.
inline int fail(char *err, int errlen, const char *what) {
    if (err && errlen > 0) { std::snprintf(err, errlen, "%s", what); }
    return -1;
}

/// Runs `body` (which returns an int status), reporting any C++ exception through `err` as -1.
template <typename F> int guarded(char *err, int errlen, F body) {
    try {
        return body();
    } catch (const std::exception &e) {
        return fail(err, errlen, e.what());
    } catch (...) {
        return fail(err, errlen, "unknown dlib error");
    }
}

/// The caller's interleaved RGB pixels as a dlib image (one copy; the detector itself needs array2d).
inline void copy_image(const uint8_t *rgb, int width, int height, dlib::array2d<dlib::rgb_pixel> &img) {
    img.set_size(height, width);
    for (long y = 0; y < height; ++y) {
        const uint8_t *row = rgb + (size_t)y * width * 3;
        for (long x = 0; x < width; ++x) { img[y][x] = dlib::rgb_pixel(row[3 * x], row[3 * x + 1], row[3 * x + 2]); }
    }
}

}  // namespace dlib_shim
#endif
