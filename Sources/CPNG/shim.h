// libpng (Debian libpng-dev): the simplified png_image API for reading and writing PNG.
#include <png.h>
