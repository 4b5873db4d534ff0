// A small C interface to Debian's static libfaiss (PLATFORM.md §1: the shipped C API has no library, and
// C++ interop has copy, exception and viral-flag hazards). Every call catches C++ exceptions and reports
// them through `err` (a buffer of `errlen` bytes); functions return 0 on success, -1 on failure.
#ifndef FAISS_SHIM_H
#define FAISS_SHIM_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct fs_index fs_index;

/// An index from a factory string ("Flat", "IVF256,Flat", "HNSW32,Flat"), inner-product metric when ip != 0,
/// wrapped in an IndexIDMap2: vectors are added with ids and searches return those ids.
fs_index *fs_create(int d, const char *factory, int ip, char *err, int errlen);
void fs_free(fs_index *index);
int fs_train(fs_index *index, int64_t n, const float *x, char *err, int errlen);
/// Adds n vectors x [n*d] with the labels ids [n].
int fs_add_with_ids(fs_index *index, int64_t n, const float *x, const int64_t *ids, char *err, int errlen);
/// The labels of the stored vectors in storage order, out [ntotal]; -1 when the index has no id map (a file
/// written before ids).
int fs_ids(const fs_index *index, int64_t *out);
/// k nearest neighbours of n queries: distances D [n*k] and ids I [n*k] (-1 where fewer exist).
int fs_search(fs_index *index, int64_t n, const float *x, int64_t k, float *D, int64_t *I, char *err, int errlen);
int64_t fs_ntotal(const fs_index *index);
int fs_dimension(const fs_index *index);
int fs_is_trained(const fs_index *index);
/// Writes atomically: to `path`.tmp, then renamed over `path`.
int fs_write(const fs_index *index, const char *path, char *err, int errlen);
fs_index *fs_read(const char *path, char *err, int errlen);
/// IVF nprobe / HNSW efSearch; returns -1 when the index has no such parameter.
int fs_set_nprobe(fs_index *index, int64_t nprobe);
int fs_set_ef_search(fs_index *index, int64_t ef);
/// k-means (faiss::Clustering, L2): centroids [k*d]; also the nearest centroid of every point.
int fs_kmeans(int d, int64_t n, const float *x, int k, int niter, int seed, float *centroids, int64_t *assign,
              char *err, int errlen);
/// Copies storage rows [i0, i0+n) of the index under the id map into out [n*d] (flat indexes; -1 when the
/// index cannot reconstruct).
int fs_reconstruct_n(const fs_index *index, int64_t i0, int64_t n, float *out, char *err, int errlen);
/// OpenMP threads faiss uses.
void fs_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
