// oneDNN 2.6 (Debian libdnnl-dev, OpenMP runtime): the C API, plus the two OpenMP thread controls the engine
// uses to keep oneDNN's team the size of the BLAS thread count (omp.h is not on clang's default path).
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int);
int omp_get_max_threads(void);
