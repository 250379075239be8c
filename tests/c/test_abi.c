/* C ABI test: links libnsbg (shared or static), runs every reference vector through the C functions
 * with a padded stride, checks every status code of c-abi.md, that failed calls leave data untouched,
 * concurrent use from 4 threads, and the decoder model API on the fixture of tests/fixtures/decoder
 * (expected output computed independently by PyTorch + PyWavelets).
 * Usage: test_abi SHARED_TESTDATA_WAVELET_DIR DECODER_FIXTURE_DIR */
#define _POSIX_C_SOURCE 200809L
#include "nsbg.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int checks = 0;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        checks++;                                                         \
        if (!(cond)) {                                                    \
            failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
        }                                                                 \
    } while (0)

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

/* The vectors have one field per line (README), so "key": value can be found with strstr. */
static const char *field(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? p + strlen(pat) : NULL;
}

static double *numbers(const char *json, const char *key, size_t *n_out) {
    const char *p = field(json, key);
    if (!p) return NULL;
    p = strchr(p, '[');
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    p++;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n') p++;
        if (*p == ']') break;
        char *end;
        double x = strtod(p, &end);
        if (end == p) { free(v); return NULL; }
        if (n == cap) { cap *= 2; v = realloc(v, cap * sizeof *v); }
        v[n++] = x;
        p = end;
    }
    *n_out = n;
    return v;
}

static int mode_code(const char *json) {
    const char *p = field(json, "mode");
    if (strstr(p, "\"symmetric\"") == p + 1) return NSBG_EXT_SYMMETRIC;
    if (strstr(p, "\"periodization\"") == p + 1) return NSBG_EXT_PERIODIZATION;
    if (strstr(p, "\"zero\"") == p + 1) return NSBG_EXT_ZERO;
    return -1; /* reversible53 */
}

#define PAD 3
#define PAD_VALUE 4242.0

static void run_vector(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *json = read_file(path);
    CHECK(json != NULL, "cannot read %s", path);
    if (!json) return;
    size_t w = strtoul(field(json, "width"), NULL, 10);
    size_t h = strtoul(field(json, "height"), NULL, 10);
    uint32_t levels = (uint32_t)strtoul(field(json, "levels"), NULL, 10);
    int mode = mode_code(json);
    size_t n_in = 0, n_out = 0, n_rec = 0;
    double *in = numbers(json, "input", &n_in);
    double *out = numbers(json, "output", &n_out);
    double *rec = numbers(json, "reconstruction", &n_rec);
    const char *ts = field(json, "scale");
    double scale = ts ? strtod(ts, NULL) : 1.0;
    const double *want_back = rec ? rec : in;
    size_t stride = w + PAD;
    CHECK(n_in == w * h && n_out == w * h, "%s: bad vector", file);

    if (mode < 0) {
        int32_t *p = malloc(h * stride * sizeof *p);
        for (size_t i = 0; i < h * stride; i++) p[i] = -99;
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) p[y * stride + x] = (int32_t)in[y * w + x];
        CHECK(nsbg_dwt2_i32(p, w, h, stride, levels) == NSBG_OK, "%s dwt i32", file);
        int ok = 1;
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) ok &= p[y * stride + x] == (int32_t)out[y * w + x];
        CHECK(ok, "%s: i32 forward differs", file);
        CHECK(nsbg_idwt2_i32(p, w, h, stride, levels) == NSBG_OK, "%s idwt i32", file);
        ok = 1;
        for (size_t y = 0; y < h; y++) {
            for (size_t x = 0; x < w; x++) ok &= p[y * stride + x] == (int32_t)in[y * w + x];
            for (size_t x = w; x < stride; x++) ok &= p[y * stride + x] == -99;
        }
        CHECK(ok, "%s: i32 inverse differs or padding touched", file);
        free(p);
    } else {
        double *p = malloc(h * stride * sizeof *p);
        float *q = malloc(h * stride * sizeof *q);
        for (size_t i = 0; i < h * stride; i++) { p[i] = PAD_VALUE; q[i] = (float)PAD_VALUE; }
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                p[y * stride + x] = in[y * w + x];
                q[y * stride + x] = (float)in[y * w + x];
            }
        CHECK(nsbg_dwt2_f64(p, w, h, stride, levels, mode) == NSBG_OK, "%s dwt f64", file);
        CHECK(nsbg_dwt2_f32(q, w, h, stride, levels, mode) == NSBG_OK, "%s dwt f32", file);
        double e64 = 0, e32 = 0;
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                e64 = fmax(e64, fabs(p[y * stride + x] - out[y * w + x]));
                e32 = fmax(e32, fabs((double)q[y * stride + x] - out[y * w + x]));
            }
        CHECK(e64 <= 1e-12 * scale, "%s: f64 forward error %g", file, e64);
        CHECK(e32 <= 1e-5 * scale, "%s: f32 forward error %g", file, e32);
        CHECK(nsbg_idwt2_f64(p, w, h, stride, levels, mode) == NSBG_OK, "%s idwt f64", file);
        CHECK(nsbg_idwt2_f32(q, w, h, stride, levels, mode) == NSBG_OK, "%s idwt f32", file);
        e64 = e32 = 0;
        int pad_ok = 1;
        for (size_t y = 0; y < h; y++) {
            for (size_t x = 0; x < w; x++) {
                e64 = fmax(e64, fabs(p[y * stride + x] - want_back[y * w + x]));
                e32 = fmax(e32, fabs((double)q[y * stride + x] - want_back[y * w + x]));
            }
            for (size_t x = w; x < stride; x++)
                pad_ok &= p[y * stride + x] == PAD_VALUE && q[y * stride + x] == (float)PAD_VALUE;
        }
        CHECK(e64 <= 1e-12 * scale, "%s: f64 inverse error %g", file, e64);
        CHECK(e32 <= 1e-5 * scale, "%s: f32 inverse error %g", file, e32);
        CHECK(pad_ok, "%s: padding touched", file);
        free(p);
        free(q);
    }
    free(in);
    free(out);
    free(rec);
    free(json);
}

static int run_all_vectors(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/index.json", dir);
    char *index = read_file(path);
    CHECK(index != NULL, "cannot read %s", path);
    if (!index) return 0;
    int n = 0;
    for (const char *p = index; (p = strstr(p, "\"file\":")) != NULL; p++) {
        const char *a = strchr(p + 7, '"') + 1;
        const char *b = strchr(a, '"');
        char file[256];
        snprintf(file, sizeof file, "%.*s", (int)(b - a), a);
        run_vector(dir, file);
        n++;
    }
    free(index);
    return n;
}

static void status_codes(void) {
    CHECK(nsbg_abi_version() == NSBG_ABI_VERSION && NSBG_ABI_VERSION == 1, "abi version");
    CHECK(nsbg_version() != NULL && strlen(nsbg_version()) > 0, "version string");
    for (int32_t c = -3; c < 12; c++) CHECK(nsbg_status_str(c) != NULL, "status_str(%d)", c);
    CHECK(strcmp(nsbg_status_str(NSBG_OK), "ok") == 0, "status_str(OK)");
    CHECK(strcmp(nsbg_status_str(99), nsbg_status_str(-1)) == 0, "unknown codes share the generic text");

    enum { W = 8, H = 8 };
    float plane[W * H], orig[W * H];
    for (int i = 0; i < W * H; i++) orig[i] = plane[i] = (float)i * 0.25f;
#define UNTOUCHED() CHECK(memcmp(plane, orig, sizeof plane) == 0, "data modified on error")
    CHECK(nsbg_dwt2_f32(NULL, W, H, W, 1, 0) == NSBG_ERR_NULL_POINTER, "NULL data");
    CHECK(nsbg_idwt2_f64(NULL, W, H, W, 1, 0) == NSBG_ERR_NULL_POINTER, "NULL data f64");
    CHECK(nsbg_dwt2_i32(NULL, W, H, W, 1) == NSBG_ERR_NULL_POINTER, "NULL data i32");
    CHECK(nsbg_dwt2_f32(plane, 1, H, W, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "width 1");
    CHECK(nsbg_dwt2_f32(plane, W, 0, W, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "height 0");
    CHECK(nsbg_dwt2_f32(plane, W, H, W - 1, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "stride < width");
    CHECK(nsbg_dwt2_f32(plane, W, H, W, 0, 0) == NSBG_ERR_INVALID_ARGUMENT, "levels 0");
    CHECK(nsbg_dwt2_f32(plane, W, H, W, 4, 0) == NSBG_ERR_INVALID_ARGUMENT, "too many levels");
    CHECK(nsbg_dwt2_f32(plane, W, H, W, 1, 3) == NSBG_ERR_INVALID_ARGUMENT, "unknown mode 3");
    CHECK(nsbg_dwt2_f32(plane, W, H, W, 1, -1) == NSBG_ERR_INVALID_ARGUMENT, "unknown mode -1");
    CHECK(nsbg_dwt2_f32(plane, 7, H, W, 1, NSBG_EXT_PERIODIZATION) == NSBG_ERR_INVALID_ARGUMENT, "odd width per");
    CHECK(nsbg_dwt2_f32(plane, W, 5, W, 1, NSBG_EXT_ZERO) == NSBG_ERR_INVALID_ARGUMENT, "odd height zero");
    CHECK(nsbg_dwt2_f32(plane, 6, 6, 6, 2, NSBG_EXT_PERIODIZATION) == NSBG_ERR_INVALID_ARGUMENT, "odd level 2");
    CHECK(nsbg_dwt2_f32(plane, W, 3, SIZE_MAX / 2 + 1, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "height*stride overflow");
    CHECK(nsbg_dwt2_f32(plane, SIZE_MAX, 2, SIZE_MAX, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "byte size overflow");
    CHECK(nsbg_dwt2_f32((float *)((char *)plane + 1), W, H, W, 1, 0) == NSBG_ERR_INVALID_ARGUMENT, "misaligned");
    UNTOUCHED();
    int32_t ip[W * H], iorig[W * H];
    for (int i = 0; i < W * H; i++) iorig[i] = ip[i] = 1 << 27;
    CHECK(nsbg_dwt2_i32(ip, W, H, W, 2) == NSBG_ERR_INVALID_ARGUMENT, "i32 range (2^27 * 16 > 2^29)");
    CHECK(memcmp(ip, iorig, sizeof ip) == 0, "i32 data modified on error");
    CHECK(nsbg_dwt2_i32(ip, W, H, W, 1) == NSBG_OK, "i32 range at the limit");

    /* tiling */
    enum { S = 64, C = 3, N = C * S * S };
    float *block = malloc(N * sizeof *block), *patches = malloc(N * sizeof *patches), *back = malloc(N * sizeof *back);
    for (int i = 0; i < N; i++) { block[i] = (float)((i * 37) % 101) / 100.0f; patches[i] = -1.0f; }
    CHECK(nsbg_tile_f32(NULL, S, C, 0, patches, N) == NSBG_ERR_NULL_POINTER, "tile NULL block");
    CHECK(nsbg_tile_f32(block, S, C, 0, NULL, N) == NSBG_ERR_NULL_POINTER, "tile NULL patches");
    CHECK(nsbg_tile_f32(block, 48, C, 0, patches, N) == NSBG_ERR_INVALID_ARGUMENT, "side 48");
    CHECK(nsbg_tile_f32(block, 16, C, 0, patches, N) == NSBG_ERR_INVALID_ARGUMENT, "side 16");
    CHECK(nsbg_tile_f32(block, S, 0, 0, patches, N) == NSBG_ERR_INVALID_ARGUMENT, "channels 0");
    CHECK(nsbg_tile_f32(block, S, C, 9, patches, N) == NSBG_ERR_INVALID_ARGUMENT, "tile mode 9");
    CHECK(nsbg_tile_f32(block, S, C, 0, patches, N - 1) == NSBG_ERR_BUFFER_SIZE, "patches_len short");
    CHECK(nsbg_tile_f32(block, S, C, 0, patches, N + 1) == NSBG_ERR_BUFFER_SIZE, "patches_len long");
    CHECK(nsbg_tile_f32(block, S, C, 0, block + 5, N) == NSBG_ERR_INVALID_ARGUMENT, "overlapping buffers");
    CHECK(nsbg_tile_f32(block, SIZE_MAX / 2, C, 0, patches, N) == NSBG_ERR_INVALID_ARGUMENT, "huge side");
    int untouched = 1;
    for (int i = 0; i < N; i++) untouched &= patches[i] == -1.0f;
    CHECK(untouched, "patches written on error");
    CHECK(nsbg_tile_f32(block, S, C, NSBG_EXT_SYMMETRIC, patches, N) == NSBG_OK, "tile");
    CHECK(nsbg_untile_f32(patches, N - 1, S, C, NSBG_EXT_SYMMETRIC, back) == NSBG_ERR_BUFFER_SIZE, "untile len");
    CHECK(nsbg_untile_f32(patches, N, S, C, NSBG_EXT_SYMMETRIC, back) == NSBG_OK, "untile");
    double e = 0;
    for (int i = 0; i < N; i++) e = fmax(e, fabs((double)back[i] - block[i]));
    CHECK(e < 1e-5, "tile round trip error %g", e);
    free(block);
    free(patches);
    free(back);
}

/* Four threads transform their own planes at the same time; each must get the single-thread answer. */
enum { TW = 256, TH = 192 };
static float reference[TW * TH];

static void fill(float *p, int seed) {
    for (int i = 0; i < TW * TH; i++) p[i] = (float)((i * 2654435761u + (unsigned)seed) % 1000u) / 999.0f;
}

static void *worker(void *arg) {
    int *ok = arg;
    float *p = malloc(sizeof reference);
    *ok = 1;
    for (int rep = 0; rep < 20; rep++) {
        fill(p, 7);
        if (nsbg_dwt2_f32(p, TW, TH, TW, 3, NSBG_EXT_SYMMETRIC) != NSBG_OK) *ok = 0;
        if (memcmp(p, reference, sizeof reference) != 0) *ok = 0;
        if (nsbg_idwt2_f32(p, TW, TH, TW, 3, NSBG_EXT_SYMMETRIC) != NSBG_OK) *ok = 0;
    }
    free(p);
    return NULL;
}

static void threads(void) {
    fill(reference, 7);
    CHECK(nsbg_dwt2_f32(reference, TW, TH, TW, 3, NSBG_EXT_SYMMETRIC) == NSBG_OK, "reference");
    pthread_t t[4];
    int ok[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, &ok[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(ok[i], "thread %d got a different result", i);
    }
}


/* ---- decoder model ---------------------------------------------------------------------------- */

static unsigned char *read_bytes(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static double max_err(const float *a, const float *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - (double)b[i]));
    return e;
}

struct decode_job {
    const nsbg_model *model;
    const float *low, *want;
    int ok;
};

static void *decode_worker(void *arg) {
    struct decode_job *job = arg;
    float *img = malloc(3 * 256 * 256 * sizeof *img);
    job->ok = 1;
    for (int rep = 0; rep < 3; rep++) {
        if (nsbg_decode(job->model, job->low, 3 * 64 * 64, img, 3 * 256 * 256) != NSBG_OK) job->ok = 0;
        if (max_err(img, job->want, 3 * 256 * 256) > 1e-4) job->ok = 0;
    }
    free(img);
    return NULL;
}

static void model_api(const char *dir) {
    size_t wlen = 0, llen = 0, l1len = 0, ilen = 0;
    unsigned char *w = read_bytes(dir, "tiny_wavelet.safetensors", &wlen);
    float *low = (float *)read_bytes(dir, "low.f32", &llen);
    float *ll1_want = (float *)read_bytes(dir, "ll1.f32", &l1len);
    float *want = (float *)read_bytes(dir, "image.f32", &ilen);
    CHECK(w && low && ll1_want && want, "cannot read the decoder fixture in %s", dir);
    if (!(w && low && ll1_want && want)) return;
    CHECK(llen == 3 * 64 * 64 * 4 && ilen == 3 * 256 * 256 * 4, "fixture sizes");

    nsbg_model *m = NULL;
    CHECK(nsbg_model_open(NULL, wlen, &m) == NSBG_ERR_NULL_POINTER, "open NULL bytes");
    CHECK(nsbg_model_open(w, wlen, NULL) == NSBG_ERR_NULL_POINTER, "open NULL out");
    CHECK(nsbg_model_open(w, 5, &m) == NSBG_ERR_FORMAT && m == NULL, "truncated file -> FORMAT, out untouched");
    CHECK(nsbg_model_open(w, wlen - 1, &m) == NSBG_ERR_FORMAT && m == NULL, "one byte short -> FORMAT");
    unsigned char *bad = malloc(wlen);
    memcpy(bad, w, wlen);
    char *fmt = strstr((char *)bad + 8, "\"nsbg.format\": \"1\"");
    CHECK(fmt != NULL, "fixture header layout");
    if (fmt) {
        fmt[strlen("\"nsbg.format\": \"")] = '2';
        CHECK(nsbg_model_open(bad, wlen, &m) == NSBG_ERR_UNSUPPORTED && m == NULL, "format 2 -> UNSUPPORTED");
    }
    free(bad);
    CHECK(nsbg_model_open(w, wlen, &m) == NSBG_OK && m != NULL, "open fixture");
    memset(w, 0xAB, wlen); /* the model copied what it needs */

    nsbg_model_info info;
    memset(&info, 0, sizeof info);
    CHECK(nsbg_model_info_get(m, NULL) == NSBG_ERR_NULL_POINTER, "info NULL");
    CHECK(nsbg_model_info_get(m, &info) == NSBG_OK, "info");
    CHECK(info.abi_version == 1 && info.format_version == 1 && info.kind == 1 && info.levels == 2 &&
              info.in_size == 64 && info.out_size == 256 && info.channels == 3 &&
              info.extension == NSBG_EXT_PERIODIZATION && info.parameters > 10000,
          "info fields (kind %u levels %u ext %d params %llu)", info.kind, info.levels, info.extension,
          (unsigned long long)info.parameters);

    float *img = malloc(3 * 256 * 256 * sizeof *img);
    float *ll1 = malloc(3 * 128 * 128 * sizeof *ll1);
    for (int i = 0; i < 3 * 256 * 256; i++) img[i] = -5.0f;
    CHECK(nsbg_decode(NULL, low, 3 * 64 * 64, img, 3 * 256 * 256) == NSBG_ERR_NULL_POINTER, "decode NULL model");
    CHECK(nsbg_decode(m, NULL, 3 * 64 * 64, img, 3 * 256 * 256) == NSBG_ERR_NULL_POINTER, "decode NULL low");
    CHECK(nsbg_decode(m, low, 3 * 64 * 64 - 1, img, 3 * 256 * 256) == NSBG_ERR_BUFFER_SIZE, "low_len");
    CHECK(nsbg_decode(m, low, 3 * 64 * 64, img, 3 * 256 * 256 + 1) == NSBG_ERR_BUFFER_SIZE, "image_len");
    CHECK(nsbg_decode_level(m, 0, low, 3 * 64 * 64, ll1, 3 * 128 * 128) == NSBG_ERR_INVALID_ARGUMENT, "level 0");
    CHECK(nsbg_decode_level(m, 3, low, 3 * 64 * 64, ll1, 3 * 128 * 128) == NSBG_ERR_INVALID_ARGUMENT, "level 3");
    CHECK(nsbg_decode_level(m, 2, low, 3 * 64 * 64, img, 3 * 256 * 256) == NSBG_ERR_BUFFER_SIZE, "level 2 takes 128");
    int untouched = 1;
    for (int i = 0; i < 3 * 256 * 256; i++) untouched &= img[i] == -5.0f;
    CHECK(untouched, "image written by a failed call");

    CHECK(nsbg_decode(m, low, 3 * 64 * 64, img, 3 * 256 * 256) == NSBG_OK, "decode");
    double e = max_err(img, want, 3 * 256 * 256);
    CHECK(e <= 1e-4, "decode vs PyTorch+PyWavelets: max error %g", e);
    CHECK(nsbg_decode_level(m, 1, low, 3 * 64 * 64, ll1, 3 * 128 * 128) == NSBG_OK, "decode level 1");
    e = max_err(ll1, ll1_want, 3 * 128 * 128);
    CHECK(e <= 1e-4, "level 1 vs reference: max error %g", e);
    float *img2 = malloc(3 * 256 * 256 * sizeof *img2);
    CHECK(nsbg_decode_level(m, 2, ll1, 3 * 128 * 128, img2, 3 * 256 * 256) == NSBG_OK, "decode level 2");
    CHECK(memcmp(img, img2, 3 * 256 * 256 * sizeof *img) == 0, "progressive decode == full decode, bit for bit");
    printf("decoder fixture: max |nsbg - reference| = %.3g\n", max_err(img, want, 3 * 256 * 256));

    pthread_t t[4];
    struct decode_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].model = m;
        jobs[i].low = low;
        jobs[i].want = want;
        pthread_create(&t[i], NULL, decode_worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(jobs[i].ok, "decode thread %d failed", i);
    }
    nsbg_model_free(m);
    nsbg_model_free(NULL);
    free(img);
    free(img2);
    free(ll1);
    free(w);
    free(low);
    free(ll1_want);
    free(want);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SHARED/testdata/wavelet tests/fixtures/decoder\n", argv[0]);
        return 2;
    }
    int n = run_all_vectors(argv[1]);
    CHECK(n >= 24, "only %d vectors found", n);
    status_codes();
    threads();
    model_api(argv[2]);
    printf("C ABI test (nsbg %s): %d vectors, %d checks: %d passed, %d failed\n", nsbg_version(), n, checks,
           checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
