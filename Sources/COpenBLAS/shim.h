// OpenBLAS (Debian libopenblas-dev, pthread build): CBLAS plus the OpenBLAS thread controls.
#include <cblas.h>
