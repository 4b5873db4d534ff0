// The extern "C" shim over faiss 1.7.3 (Debian libfaiss-dev): index_factory, train/add/search, I/O,
// Clustering. Exceptions never cross into Swift. Every index made here is the factory index wrapped in
// faiss::IndexIDMap2, so its labels are the caller's 64-bit ids (the prototype database's row ids).
#include "faiss_shim.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

struct fs_index { faiss::Index *index; };

/// The index under the id map (the index itself when it has none, as files written before ids).
static faiss::Index *inner(faiss::Index *i) {
    if (auto m = dynamic_cast<faiss::IndexIDMap2 *>(i)) return m->index;
    if (auto m = dynamic_cast<faiss::IndexIDMap *>(i)) return m->index;
    return i;
}

static int fail(char *err, int errlen, const char *what) {
    if (err && errlen > 0) { std::snprintf(err, errlen, "%s", what); }
    return -1;
}

extern "C" {

fs_index *fs_create(int d, const char *factory, int ip, char *err, int errlen) {
    try {
        faiss::Index *i = faiss::index_factory(d, factory, ip ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
        auto *m = new faiss::IndexIDMap2(i);
        m->own_fields = true;
        return new fs_index{m};
    } catch (const std::exception &e) { fail(err, errlen, e.what()); return nullptr; }
}

void fs_free(fs_index *index) {
    if (!index) return;
    delete index->index;
    delete index;
}

int fs_train(fs_index *index, int64_t n, const float *x, char *err, int errlen) {
    try { index->index->train(n, x); return 0; } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

int fs_add_with_ids(fs_index *index, int64_t n, const float *x, const int64_t *ids, char *err, int errlen) {
    try {
        index->index->add_with_ids(n, x, reinterpret_cast<const faiss::Index::idx_t *>(ids));
        return 0;
    } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

int fs_ids(const fs_index *index, int64_t *out) {
    const faiss::IndexIDMap *m = dynamic_cast<const faiss::IndexIDMap *>(index->index);
    if (!m || (int64_t)m->id_map.size() != m->ntotal) return -1;
    std::memcpy(out, m->id_map.data(), sizeof(int64_t) * m->id_map.size());
    return 0;
}

int fs_search(fs_index *index, int64_t n, const float *x, int64_t k, float *D, int64_t *I, char *err, int errlen) {
    try {
        index->index->search(n, x, k, D, reinterpret_cast<faiss::Index::idx_t *>(I));
        return 0;
    } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

int64_t fs_ntotal(const fs_index *index) { return index->index->ntotal; }
int fs_dimension(const fs_index *index) { return index->index->d; }
int fs_is_trained(const fs_index *index) { return index->index->is_trained ? 1 : 0; }

int fs_write(const fs_index *index, const char *path, char *err, int errlen) {
    try {
        std::string tmp = std::string(path) + ".tmp";
        faiss::write_index(index->index, tmp.c_str());
        if (std::rename(tmp.c_str(), path) != 0) return fail(err, errlen, "could not rename the written index into place");
        return 0;
    } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

fs_index *fs_read(const char *path, char *err, int errlen) {
    try { return new fs_index{faiss::read_index(path, 0)}; } catch (const std::exception &e) { fail(err, errlen, e.what()); return nullptr; }
}

int fs_set_nprobe(fs_index *index, int64_t nprobe) {
    if (auto ivf = dynamic_cast<faiss::IndexIVF *>(inner(index->index))) { ivf->nprobe = nprobe; return 0; }
    return -1;
}

int fs_set_ef_search(fs_index *index, int64_t ef) {
    if (auto h = dynamic_cast<faiss::IndexHNSW *>(inner(index->index))) { h->hnsw.efSearch = ef; return 0; }
    return -1;
}

int fs_kmeans(int d, int64_t n, const float *x, int k, int niter, int seed, float *centroids, int64_t *assign,
              char *err, int errlen) {
    try {
        faiss::ClusteringParameters cp;
        cp.niter = niter;
        cp.seed = seed;
        cp.verbose = false;
        faiss::Clustering clus(d, k, cp);
        faiss::IndexFlatL2 quantizer(d);
        clus.train(n, x, quantizer);
        std::memcpy(centroids, clus.centroids.data(), sizeof(float) * k * d);
        std::vector<float> dist(n);
        quantizer.search(n, x, 1, dist.data(), reinterpret_cast<faiss::Index::idx_t *>(assign));
        return 0;
    } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

int fs_reconstruct_n(const fs_index *index, int64_t i0, int64_t n, float *out, char *err, int errlen) {
    try { inner(index->index)->reconstruct_n(i0, n, out); return 0; } catch (const std::exception &e) { return fail(err, errlen, e.what()); }
}

void fs_set_threads(int n) { omp_set_num_threads(n); }

}
