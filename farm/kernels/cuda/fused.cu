// NV12/P010 -> resize -> RGB -> 3D LUT -> NV12/P010, separable, for the GPU worker.
// The CuPy twin of farm.kernels.fused_nv12_resize (NumPy reference in _fused.py).
//
// Two launches per frame, each covering both planes:
//   1. farm_fused_h_*: horizontal pass. One thread writes one resampled sample
//      of one source row (luma rows, then chroma rows, both planes in one grid)
//      into a float intermediate that is fit_w wide and in_h tall. Neighbouring
//      threads read neighbouring source bytes and write neighbouring floats
//      (coalesced); the taps of a column (start, weights) are read once per
//      sample, shared by every row and so served from cache.
//   2. farm_fused_v_*: vertical pass and colour. One thread writes one output
//      chroma sample and its 2x2 luma pixels: each of the two output rows is a
//      short column of the intermediate (neighbouring threads read neighbouring
//      floats), weighted by that row's precomputed taps; then each pixel goes
//      YCbCr -> RGB (clipped to [0, 1]) -> LUT -> YCbCr, luma is written per
//      pixel and chroma as the mean of the 4 pixels. Blocks outside the picture
//      rectangle (fit_x, fit_y, fit_w, fit_h) are black.
// Resampling YCbCr equals resampling RGB, the conversion being affine. The
// horizontal pass first, then the vertical one, as the NumPy reference does.
#include "farm_common.cuh"

struct FarmTaps {
    const int* start;
    const float* weights;
    int taps;
};

__device__ __forceinline__ int farm_clampi(int v, int hi) {
    return min(max(v, 0), hi);
}

// Pass 1: rows of both source planes resampled horizontally.
//   tmp_y: in_h rows of fit_w floats; tmp_c: in_h / 2 rows of fit_w / 2 (Cb, Cr) pairs.
template <typename T>
__device__ void farm_fused_h(const T* __restrict__ y_in, const T* __restrict__ uv_in, int in_w, int in_h,
                             int y_pitch, int uv_pitch, float* __restrict__ tmp_y, float* __restrict__ tmp_c,
                             int fit_w, FarmTaps lx, FarmTaps cx, int shift) {
    int cw = in_w / 2, ch = in_h / 2, out_cw = fit_w / 2;
    long long luma = (long long)in_h * fit_w;
    long long total = luma + (long long)ch * out_cw;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        if (i < luma) {
            int x = (int)(i % fit_w);
            int row = (int)(i / fit_w);
            const T* src = y_in + (long long)row * y_pitch;
            const float* w = lx.weights + (long long)x * lx.taps;
            int sx = lx.start[x];
            float acc = 0.0f;
            for (int k = 0; k < lx.taps; ++k) {
                acc += w[k] * (float)(src[farm_clampi(sx + k, in_w - 1)] >> shift);
            }
            tmp_y[i] = acc;
        } else {
            long long j = i - luma;
            int x = (int)(j % out_cw);
            int row = (int)(j / out_cw);
            const T* src = uv_in + (long long)row * uv_pitch;
            const float* w = cx.weights + (long long)x * cx.taps;
            int sx = cx.start[x];
            float cb = 0.0f, cr = 0.0f;
            for (int k = 0; k < cx.taps; ++k) {
                const T* p = src + 2 * farm_clampi(sx + k, cw - 1);
                cb += w[k] * (float)(p[0] >> shift);
                cr += w[k] * (float)(p[1] >> shift);
            }
            tmp_c[2 * j] = cb;
            tmp_c[2 * j + 1] = cr;
        }
    }
}

__device__ __forceinline__ unsigned int farm_code(float v, float code_max) {
    return (unsigned int)rintf(farm_clamp(v, 0.0f, code_max));
}

// Pass 2: columns of the intermediate resampled vertically, then the colour work, per 2x2 block.
template <typename T>
__device__ void farm_fused_v(const float* __restrict__ tmp_y, const float* __restrict__ tmp_c, int in_h,
                             T* __restrict__ y_out, T* __restrict__ uv_out, int out_w, int out_h,
                             int y_out_pitch, int uv_out_pitch, int fit_x, int fit_y, int fit_w, int fit_h,
                             FarmTaps ly, FarmTaps cy, const FarmNode* __restrict__ table, int n,
                             const float* __restrict__ lut_params, int tetrahedral,
                             const float* __restrict__ to_rgb, const float* __restrict__ to_yuv, int shift,
                             float code_max, float black_y, float black_c) {
    int bw = out_w / 2, bh = out_h / 2, ch = in_h / 2, out_cw = fit_w / 2;
    long long total = (long long)bw * bh;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int bx = (int)(i % bw);
        int by = (int)(i / bw);
        int ox = 2 * bx, oy = 2 * by;
        T* yo = y_out + (long long)oy * y_out_pitch + ox;
        T* co = uv_out + (long long)by * uv_out_pitch + 2 * bx;
        int px = ox - fit_x, py = oy - fit_y;
        if (px < 0 || py < 0 || px >= fit_w || py >= fit_h) {
            T y_black = (T)(farm_code(black_y, code_max) << shift);
            T c_black = (T)(farm_code(black_c, code_max) << shift);
            yo[0] = y_black;
            yo[1] = y_black;
            yo[y_out_pitch] = y_black;
            yo[y_out_pitch + 1] = y_black;
            co[0] = c_black;
            co[1] = c_black;
            continue;
        }
        // chroma of the block
        int qx = px / 2, qy = py / 2;
        const float* wc = cy.weights + (long long)qy * cy.taps;
        int sc = cy.start[qy];
        float cb = 0.0f, cr = 0.0f;
        for (int k = 0; k < cy.taps; ++k) {
            float w = wc[k];
            if (w == 0.0f) continue;
            const float* p = tmp_c + 2 * ((long long)farm_clampi(sc + k, ch - 1) * out_cw + qx);
            cb += w * p[0];
            cr += w * p[1];
        }
        float sum_cb = 0.0f, sum_cr = 0.0f;
        for (int dy = 0; dy < 2; ++dy) {
            // luma of the two pixels of this output row
            const float* wl = ly.weights + (long long)(py + dy) * ly.taps;
            int sl = ly.start[py + dy];
            float l0 = 0.0f, l1 = 0.0f;
            for (int k = 0; k < ly.taps; ++k) {
                float w = wl[k];
                if (w == 0.0f) continue;
                const float* p = tmp_y + (long long)farm_clampi(sl + k, in_h - 1) * fit_w + px;
                l0 += w * p[0];
                l1 += w * p[1];
            }
            for (int dx = 0; dx < 2; ++dx) {
                FarmRGB codes;
                codes.r = dx ? l1 : l0;
                codes.g = cb;
                codes.b = cr;
                FarmRGB rgb = farm_clamp_rgb(farm_affine(to_rgb, codes), 0.0f, 1.0f);
                rgb = farm_clamp_rgb(farm_lut3d(table, n, lut_params, rgb, tetrahedral), 0.0f, 1.0f);
                FarmRGB out = farm_affine(to_yuv, rgb);
                yo[dy * y_out_pitch + dx] = (T)(farm_code(out.r, code_max) << shift);
                sum_cb += out.g;
                sum_cr += out.b;
            }
        }
        co[0] = (T)(farm_code(0.25f * sum_cb, code_max) << shift);
        co[1] = (T)(farm_code(0.25f * sum_cr, code_max) << shift);
    }
}

#define FARM_FUSED_H_ENTRY(NAME, T, SHIFT)                                                                      \
    extern "C" __global__ void NAME(const T* y_in, const T* uv_in, int in_w, int in_h, int y_pitch,            \
                                    int uv_pitch, float* tmp_y, float* tmp_c, int fit_w, const int* lx_start,  \
                                    const float* lx_weights, int lx_taps, const int* cx_start,                 \
                                    const float* cx_weights, int cx_taps) {                                    \
        FarmTaps lx = {lx_start, lx_weights, lx_taps};                                                          \
        FarmTaps cx = {cx_start, cx_weights, cx_taps};                                                          \
        farm_fused_h<T>(y_in, uv_in, in_w, in_h, y_pitch, uv_pitch, tmp_y, tmp_c, fit_w, lx, cx, SHIFT);       \
    }

#define FARM_FUSED_V_ENTRY(NAME, T, SHIFT, CODE_MAX)                                                            \
    extern "C" __global__ void NAME(                                                                            \
        const float* tmp_y, const float* tmp_c, int in_h, T* y_out, T* uv_out, int out_w, int out_h,           \
        int y_out_pitch, int uv_out_pitch, int fit_x, int fit_y, int fit_w, int fit_h, const int* ly_start,    \
        const float* ly_weights, int ly_taps, const int* cy_start, const float* cy_weights, int cy_taps,       \
        const FarmNode* table, int n, const float* lut_params, int tetrahedral, const float* to_rgb,           \
        const float* to_yuv, float black_y, float black_c) {                                                    \
        FarmTaps ly = {ly_start, ly_weights, ly_taps};                                                          \
        FarmTaps cy = {cy_start, cy_weights, cy_taps};                                                          \
        farm_fused_v<T>(tmp_y, tmp_c, in_h, y_out, uv_out, out_w, out_h, y_out_pitch, uv_out_pitch, fit_x,     \
                        fit_y, fit_w, fit_h, ly, cy, table, n, lut_params, tetrahedral, to_rgb, to_yuv, SHIFT, \
                        CODE_MAX, black_y, black_c);                                                            \
    }

FARM_FUSED_H_ENTRY(farm_nv12_resize_h, unsigned char, 0)
FARM_FUSED_H_ENTRY(farm_p010_resize_h, unsigned short, 6)
FARM_FUSED_V_ENTRY(farm_nv12_resize_v_lut_nv12, unsigned char, 0, 255.0f)
FARM_FUSED_V_ENTRY(farm_p010_resize_v_lut_p010, unsigned short, 6, 1023.0f)
