/* openk2's CPU decode kernels: matrix-vector products over fp32 / bf16 / int8 / int4 weights, a fused MoE layer
 * and absorbed-MLA attention over the paged latent cache. Built at first use by openk2/kernels.py (gcc -O3
 * -march=native -fopenmp); loaded with ctypes. Threads come from torch's own OpenMP runtime (same libgomp).
 *
 * Every output element is computed by one thread in a fixed order that depends only on its own row of input:
 * results do not depend on the batch a token is in or on the thread count (batch invariance, for deterministic
 * greedy decoding). Work is handed out dynamically, so a thread that loses its core to another process delays
 * only the chunk it holds.
 *
 * Weight formats (row-major [O, I] per matrix, y = W x):
 *   F32   float; BF16 uint16 bits;
 *   INT8  int8 [O, I] + one float scale per row [O];
 *   INT4  uint8 [O, I/2] + float scales [O, I/32]: compressed-tensors' pack-quantized layout, int4 value v stored
 *         as v + 8, value j of a row in byte j/2 (even j in the low nibble). Symmetric, group 32.
 * The integer formats quantise the activation row to int8 per block of 32 (llama.cpp's Q8_0 idea) and take
 * integer dot products per block; F32/BF16 multiply in float32.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define OK2_AVX2 1
#endif

enum { F32 = 0, BF16 = 1, INT8 = 2, INT4 = 3 };
#define QB 32      /* quantisation block of the integer formats */
#define TILE 4     /* activation rows sharing one pass over a weight row */
#define CHUNK 16   /* weight rows per task */

int ok2_isa(void) {
#ifdef OK2_AVX2
    return 2;
#else
    return 0;
#endif
}

/* ---- activations --------------------------------------------------------------------------------------- */

/* One activation row as the dot products read it: float, or int8 blocks with one scale each. */
typedef struct { const float *f; const int8_t *q; const float *s; } Row;

/* x [n] -> int8 q [n] with scale per block of 32. For INT4 each block is reordered to (even elements, odd
 * elements), the order in which the kernel unpacks a block's low and high nibbles. */
static void quantize_row(const float *x, int n, int8_t *q, float *s, int interleaved) {
    for (int b = 0; b < n / QB; b++) {
        const float *xb = x + b * QB;
        float amax = 0.f;
        for (int j = 0; j < QB; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.f, inv = d > 0.f ? 1.f / d : 0.f;
        s[b] = d;
        for (int j = 0; j < QB; j++) {
            int dst = interleaved ? (j & 1) * (QB / 2) + j / 2 : j;
            q[b * QB + dst] = (int8_t)lrintf(xb[j] * inv);
        }
    }
}

static size_t weight_bytes(int fmt, long rows, long cols) {
    switch (fmt) {
    case F32: return rows * cols * 4;
    case BF16: return rows * cols * 2;
    case INT8: return rows * cols;
    default: return rows * cols / 2;
    }
}

static long scale_count(int fmt, long rows, long cols) {
    return fmt == INT8 ? rows : fmt == INT4 ? rows * (cols / QB) : 0;
}

/* ---- one weight row against up to TILE activation rows --------------------------------------------------- */

#ifdef OK2_AVX2
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline __m256 load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
/* Sum of products of signed bytes, 8 int32 lanes: maddubs needs one unsigned side, so take |w| and move w's
 * sign onto x. Pairs stay within int16 because |w|, |x| <= 127. */
static inline __m256 dot_i8(__m256i w, __m256i x) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
#endif

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* y[t] = dot(weight row o, x[t]) for t < nt. Inlined with constant nt so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void row_dot(int fmt, const void *w, const float *s, long o, int cols,
                                                          const Row *x, int nt, float *y) {
    int i = 0;
    float acc[TILE] = {0};
    if (fmt == F32 || fmt == BF16) {
        const float *wf = (const float *)w + o * cols;
        const uint16_t *wh = (const uint16_t *)w + o * cols;
#ifdef OK2_AVX2
        __m256 a[TILE], b[TILE];
        for (int t = 0; t < nt; t++) a[t] = b[t] = _mm256_setzero_ps();
        for (; i + 16 <= cols; i += 16) {
            __m256 w0 = fmt == F32 ? _mm256_loadu_ps(wf + i) : load_bf16(wh + i);
            __m256 w1 = fmt == F32 ? _mm256_loadu_ps(wf + i + 8) : load_bf16(wh + i + 8);
            for (int t = 0; t < nt; t++) {
                a[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t].f + i), a[t]);
                b[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t].f + i + 8), b[t]);
            }
        }
        for (int t = 0; t < nt; t++) acc[t] = hsum(_mm256_add_ps(a[t], b[t]));
#endif
        for (; i < cols; i++) {
            float wv = fmt == F32 ? wf[i] : bf16_to_f32(wh[i]);
            for (int t = 0; t < nt; t++) acc[t] += wv * x[t].f[i];
        }
    } else if (fmt == INT8) {
        const int8_t *wq = (const int8_t *)w + o * cols;
#ifdef OK2_AVX2
        __m256 a[TILE];
        for (int t = 0; t < nt; t++) a[t] = _mm256_setzero_ps();
        for (int b = 0; b < cols / QB; b++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(wq + b * QB));
            for (int t = 0; t < nt; t++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x[t].q + b * QB));
                a[t] = _mm256_fmadd_ps(dot_i8(wv, xv), _mm256_set1_ps(x[t].s[b]), a[t]);
            }
        }
        for (int t = 0; t < nt; t++) acc[t] = hsum(a[t]) * s[o];
#else
        for (int t = 0; t < nt; t++) {
            float sum = 0.f;
            for (int b = 0; b < cols / QB; b++) {
                int32_t d = 0;
                for (int j = 0; j < QB; j++) d += wq[b * QB + j] * x[t].q[b * QB + j];
                sum += (float)d * x[t].s[b];
            }
            acc[t] = sum * s[o];
        }
#endif
    } else { /* INT4 */
        const uint8_t *wq = (const uint8_t *)w + o * (cols / 2);
        const float *ws = s + o * (cols / QB);
#ifdef OK2_AVX2
        __m256 a[TILE];
        for (int t = 0; t < nt; t++) a[t] = _mm256_setzero_ps();
        const __m256i low = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
        for (int b = 0; b < cols / QB; b++) {
            __m128i raw = _mm_loadu_si128((const __m128i *)(wq + b * QB / 2));
            __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
            __m256i wv = _mm256_sub_epi8(nib, eight); /* (even elements | odd elements), in [-8, 7] */
            for (int t = 0; t < nt; t++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x[t].q + b * QB));
                a[t] = _mm256_fmadd_ps(dot_i8(wv, xv), _mm256_set1_ps(ws[b] * x[t].s[b]), a[t]);
            }
        }
        for (int t = 0; t < nt; t++) acc[t] = hsum(a[t]);
#else
        for (int t = 0; t < nt; t++) {
            float sum = 0.f;
            for (int b = 0; b < cols / QB; b++) {
                int32_t d = 0;
                for (int j = 0; j < QB / 2; j++) {
                    uint8_t byte = wq[b * QB / 2 + j];
                    d += ((byte & 15) - 8) * x[t].q[b * QB + j] + ((byte >> 4) - 8) * x[t].q[b * QB + QB / 2 + j];
                }
                sum += (float)d * ws[b] * x[t].s[b];
            }
            acc[t] = sum;
        }
#endif
    }
    for (int t = 0; t < nt; t++) y[t] = acc[t];
}

/* Rows [o0, o1) of one matrix against n activation rows; out[t] + o is where row t's outputs go. */
static void rows_dot(int fmt, const void *w, const float *s, int cols, long o0, long o1, const Row *x, int n,
                     float *const *out) {
    float y[TILE];
    for (long o = o0; o < o1; o++) {
        for (int t0 = 0; t0 < n; t0 += TILE) {
            int nt = n - t0 < TILE ? n - t0 : TILE;
            switch (nt) { /* constant tile sizes: one specialised copy each */
            case 1: row_dot(fmt, w, s, o, cols, x + t0, 1, y); break;
            case 2: row_dot(fmt, w, s, o, cols, x + t0, 2, y); break;
            case 3: row_dot(fmt, w, s, o, cols, x + t0, 3, y); break;
            default: row_dot(fmt, w, s, o, cols, x + t0, 4, y); break;
            }
            for (int t = 0; t < nt; t++) out[t0 + t][o] = y[t];
        }
    }
}

/* Activation rows in the form fmt's dot products read: float as is, or quantised into q/s (n rows of cols). */
static void prepare_rows(int fmt, const float *const *xs, int n, int cols, int8_t *q, float *s, Row *rows) {
    for (int t = 0; t < n; t++) {
        rows[t].f = xs[t];
        if (fmt == INT8 || fmt == INT4) {
            quantize_row(xs[t], cols, q + (long)t * cols, s + (long)t * (cols / QB), fmt == INT4);
            rows[t].q = q + (long)t * cols;
            rows[t].s = s + (long)t * (cols / QB);
        }
    }
}

/* ---- grouped linear: y[g, n] = W[g] x[g, n] -------------------------------------------------------------- */

/* G matrices [O, I] stored back to back (one for a linear layer; one per head for the absorbed MLA weights).
 * x and y are addressed with strides in floats, so [N, G, I] activations need no copy. */
void ok2_linear(int fmt, int G, int N, int O, int I, const float *x, long x_g, long x_n, const void *w,
                const float *s, float *y, long y_g, long y_n) {
    int quant = fmt == INT8 || fmt == INT4;
    Row *rows = malloc(sizeof(Row) * G * N);
    float **outs = malloc(sizeof(float *) * G * N);
    const float **xs = malloc(sizeof(float *) * G * N);
    int8_t *q = quant ? malloc((size_t)G * N * I) : NULL;
    float *qs = quant ? malloc(sizeof(float) * G * N * (I / QB)) : NULL;
    for (int g = 0; g < G; g++)
        for (int t = 0; t < N; t++) {
            xs[g * N + t] = x + g * x_g + t * x_n;
            outs[g * N + t] = y + g * y_g + t * y_n;
        }
    prepare_rows(fmt, xs, G * N, I, q, qs, rows);
    int chunks = (O + CHUNK - 1) / CHUNK;
    size_t wstride = weight_bytes(fmt, O, I);
    long sstride = scale_count(fmt, O, I);
#pragma omp parallel for schedule(dynamic, 1)
    for (long task = 0; task < (long)G * chunks; task++) {
        int g = task / chunks;
        long o0 = (task % chunks) * CHUNK, o1 = o0 + CHUNK < O ? o0 + CHUNK : O;
        rows_dot(fmt, (const char *)w + g * wstride, s ? s + g * sstride : NULL, I, o0, o1, rows + g * N, N,
                 outs + g * N);
    }
    free(rows); free(outs); free(xs); free(q); free(qs);
}

/* ---- fused MoE: routed (and shared) SwiGLU experts for N tokens ------------------------------------------ */

static inline float silu(float v) { return v / (1.f + expf(-v)); }

/* out[n] = sum_k weights[n, k] * expert_{ids[n, k]}(x[n]), with expert e = down_e(silu(gate_e x) * up_e x),
 * w13[e] = [gate; up] as [2I, D] in format fmt13 and w2[e] as [D, I] in fmt2 (they differ when only one of D, I
 * is a multiple of the quantisation block, so each is read in its own format). Experts hit by several tokens read their weights once
 * for all of them (the grouped GEMM of a batch). The sum over k runs in k order for every token. */
int ok2_moe(int fmt13, int fmt2, int E, int N, int D, int I, int K, const float *x, const int64_t *ids,
            const float *weights, const void *w13, const float *s13, const void *w2, const float *s2, float *out) {
    int S = N * K, quant13 = fmt13 == INT8 || fmt13 == INT4, quant2 = fmt2 == INT8 || fmt2 == INT4;
    /* An expert id outside the E stored would read past the weights: refuse the call (returns -1). */
    for (int i = 0; i < S; i++)
        if (ids[i] < 0 || ids[i] >= E) return -1;
    /* Group the (token, k) slots by expert: order[] lists slots expert by expert, in token order. */
    int *count = calloc(E + 1, sizeof(int)), *start = malloc(sizeof(int) * (E + 1)), *order = malloc(sizeof(int) * S);
    int *hit = malloc(sizeof(int) * (S < E ? S : E)), n_hit = 0;
    for (int i = 0; i < S; i++) count[ids[i]]++;
    start[0] = 0;
    for (int e = 0; e < E; e++) {
        start[e + 1] = start[e] + count[e];
        if (count[e]) hit[n_hit++] = e;
        count[e] = 0;
    }
    for (int i = 0; i < S; i++) order[start[ids[i]] + count[ids[i]]++] = i; /* position p holds slot order[p] */

    float *h = malloc(sizeof(float) * (size_t)S * 2 * I); /* [S, 2I] gate|up, by sorted position */
    float *act = malloc(sizeof(float) * (size_t)S * I);    /* [S, I] */
    float *y = malloc(sizeof(float) * (size_t)S * D);      /* [S, D] by slot */
    Row *xr = malloc(sizeof(Row) * N), *ar = malloc(sizeof(Row) * S), *xrow = malloc(sizeof(Row) * S);
    float **outs = malloc(sizeof(float *) * S);
    const float **xs = malloc(sizeof(float *) * (N > S ? N : S));
    int8_t *xq = quant13 ? malloc((size_t)N * D) : NULL, *aq = quant2 ? malloc((size_t)S * I) : NULL;
    float *xqs = quant13 ? malloc(sizeof(float) * N * (D / QB)) : NULL;
    float *aqs = quant2 ? malloc(sizeof(float) * S * (I / QB)) : NULL;
    for (int t = 0; t < N; t++) xs[t] = x + (long)t * D;
    prepare_rows(fmt13, xs, N, D, xq, xqs, xr);
    for (int p = 0; p < S; p++) xrow[p] = xr[order[p] / K];

    size_t b13 = weight_bytes(fmt13, 2L * I, D), b2 = weight_bytes(fmt2, D, I);
    long c13 = scale_count(fmt13, 2L * I, D), c2 = scale_count(fmt2, D, I);
    int chunks13 = (2 * I + CHUNK - 1) / CHUNK, chunks2 = (D + CHUNK - 1) / CHUNK;
#pragma omp parallel
    {
        float *o13[64];
        /* 1. gate|up for every (expert, chunk of rows), all the expert's tokens at once */
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < (long)n_hit * chunks13; task++) {
            int e = hit[task / chunks13], p0 = start[e], n = start[e + 1] - p0;
            long r0 = (task % chunks13) * CHUNK, r1 = r0 + CHUNK < 2 * I ? r0 + CHUNK : 2 * I;
            for (int t0 = 0; t0 < n; t0 += 64) {
                int nt = n - t0 < 64 ? n - t0 : 64;
                for (int t = 0; t < nt; t++) o13[t] = h + (size_t)(p0 + t0 + t) * 2 * I;
                rows_dot(fmt13, (const char *)w13 + e * b13, s13 ? s13 + e * c13 : NULL, D, r0, r1, xrow + p0 + t0, nt,
                         o13);
            }
        }
        /* 2. silu(gate) * up, quantised for the integer formats */
#pragma omp for schedule(static)
        for (int p = 0; p < S; p++) {
            float *a = act + (size_t)p * I, *hp = h + (size_t)p * 2 * I;
            for (int j = 0; j < I; j++) a[j] = silu(hp[j]) * hp[I + j];
            ar[p].f = a;
            if (quant2) {
                quantize_row(a, I, aq + (size_t)p * I, aqs + (size_t)p * (I / QB), fmt2 == INT4);
                ar[p].q = aq + (size_t)p * I;
                ar[p].s = aqs + (size_t)p * (I / QB);
            }
        }
        /* 3. down projections into y, by slot */
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < (long)n_hit * chunks2; task++) {
            int e = hit[task / chunks2], p0 = start[e], n = start[e + 1] - p0;
            long r0 = (task % chunks2) * CHUNK, r1 = r0 + CHUNK < D ? r0 + CHUNK : D;
            for (int t0 = 0; t0 < n; t0 += 64) {
                int nt = n - t0 < 64 ? n - t0 : 64;
                for (int t = 0; t < nt; t++) o13[t] = y + (size_t)order[p0 + t0 + t] * D;
                rows_dot(fmt2, (const char *)w2 + e * b2, s2 ? s2 + e * c2 : NULL, I, r0, r1, ar + p0 + t0, nt, o13);
            }
        }
        /* 4. weighted sum over each token's experts, in k order */
#pragma omp for schedule(static)
        for (int t = 0; t < N; t++) {
            float *o = out + (size_t)t * D;
            for (int j = 0; j < D; j++) o[j] = 0.f;
            for (int k = 0; k < K; k++) {
                const float *yk = y + (size_t)(t * K + k) * D;
                float wk = weights[t * K + k];
                for (int j = 0; j < D; j++) o[j] += wk * yk[j];
            }
        }
    }
    free(count); free(start); free(order); free(hit); free(h); free(act); free(y); free(xr); free(ar); free(xrow);
    free(outs); free(xs); free(xq); free(aq); free(xqs); free(aqs);
    return 0;
}

/* ---- absorbed MLA attention over the paged cache -------------------------------------------------------- */

static inline float dot_f32(const float *a, const float *b, int n) {
    int i = 0;
    float d = 0.f;
#ifdef OK2_AVX2
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    d = hsum(_mm256_add_ps(acc0, acc1));
#endif
    for (; i < n; i++) d += a[i] * b[i];
    return d;
}

/* Row r (a query of one head, [W] = latent C + rope R, already absorbed) attends to the cache rows
 * slots[first[r] .. first[r] + len[r]) of kv [P, W] (float or bf16): o[r] = softmax(scale * q.k) . latent.
 * One row's keys are visited in order by one thread: a token's result is the same whether it is decoded
 * alone, in a batch, or prefilled in a prompt chunk. */
int ok2_attention(int R, int W, int C, const float *q, const void *kv, int kv_bf16, long P, const int64_t *slots,
                  long n_slots, const int64_t *first, const int64_t *len, float scale, float *o) {
    /* Indices that would read outside slots[] or the cache are refused (returns -1) before any is read. */
    if (C > W) return -1;
    for (int r = 0; r < R; r++)
        if (first[r] < 0 || len[r] < 0 || first[r] + len[r] > n_slots) return -1;
    for (long i = 0; i < n_slots; i++)
        if (slots[i] < 0 || slots[i] >= P) return -1;
#pragma omp parallel
    {
        int cap = 0;
        float *p = NULL, *k = malloc(sizeof(float) * W);
#pragma omp for schedule(dynamic, 1)
        for (int r = 0; r < R; r++) {
            int L = (int)len[r];
            const int64_t *sl = slots + first[r];
            if (L > cap) { free(p); cap = L; p = malloc(sizeof(float) * cap); }
            const float *qr = q + (size_t)r * W;
            float m = -INFINITY;
            for (int l = 0; l < L; l++) {
                const float *kr;
                if (kv_bf16) {
                    const uint16_t *src = (const uint16_t *)kv + sl[l] * W;
                    for (int j = 0; j < W; j++) k[j] = bf16_to_f32(src[j]);
                    kr = k;
                } else {
                    kr = (const float *)kv + sl[l] * W;
                }
                p[l] = dot_f32(qr, kr, W) * scale;
                m = p[l] > m ? p[l] : m;
            }
            float sum = 0.f;
            for (int l = 0; l < L; l++) { p[l] = expf(p[l] - m); sum += p[l]; }
            float *orow = o + (size_t)r * C;
            for (int j = 0; j < C; j++) orow[j] = 0.f;
            for (int l = 0; l < L; l++) {
                float pl = p[l] / sum;
                if (kv_bf16) {
                    const uint16_t *src = (const uint16_t *)kv + sl[l] * W;
                    for (int j = 0; j < C; j++) orow[j] += pl * bf16_to_f32(src[j]);
                } else {
                    const float *src = (const float *)kv + sl[l] * W;
                    for (int j = 0; j < C; j++) orow[j] += pl * src[j];
                }
            }
        }
        free(p); free(k);
    }
    return 0;
}
