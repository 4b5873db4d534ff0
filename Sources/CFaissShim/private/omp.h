// faiss/impl/HNSW.h includes <omp.h>; Swift's bundled clang ships none, so forward to GCC's (the one
// Debian's libfaiss.a was compiled against; PLATFORM.md §1 pitfall 1).
#include "/usr/lib/gcc/x86_64-linux-gnu/12/include/omp.h"
