// libjpeg-turbo's TurboJPEG API (Debian libturbojpeg0-dev): errors come back as return codes (never exit()).
#include <stddef.h>
#include <turbojpeg.h>
