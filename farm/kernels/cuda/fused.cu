// NV12/P010 -> resize -> RGB -> 3D LUT -> NV12/P010 in one pass, for the GPU worker.
// The CuPy twin of farm.kernels.fused_nv12_resize (NumPy reference in _fused.py).
//
// One thread writes one output chroma sample and its 2x2 luma pixels, so every
// output byte is written once and nothing but the planes touches memory:
//   1. luma at each of the 4 pixels and chroma at the block, resampled from the
//      source planes with precomputed separable taps (see resize.cu);
//      resampling YCbCr equals resampling RGB, the conversion being affine;
//   2. each pixel: YCbCr -> RGB (clipped to [0, 1]) -> LUT -> YCbCr;
//   3. luma written per pixel, chroma as the mean of the 4 pixels.
// Blocks outside the picture rectangle (fit_x, fit_y, fit_w, fit_h) are black.
#include "farm_common.cuh"

struct FarmTaps {
    const int* start;
    const float* weights;
    int taps;
};

template <typename T>
__device__ __forceinline__ float farm_sample_luma(const T* __restrict__ plane, int pitch, int in_w, int in_h,
                                                  int shift, FarmTaps tx, FarmTaps ty, int x, int y) {
    const float* wy = ty.weights + (long long)y * ty.taps;
    const float* wx = tx.weights + (long long)x * tx.taps;
    int sy = ty.start[y], sx = tx.start[x];
    float acc = 0.0f;
    for (int j = 0; j < ty.taps; ++j) {
        float w = wy[j];
        if (w == 0.0f) continue;
        const T* row = plane + (long long)min(max(sy + j, 0), in_h - 1) * pitch;
        float line = 0.0f;
        for (int i = 0; i < tx.taps; ++i) {
            line += wx[i] * (float)(row[min(max(sx + i, 0), in_w - 1)] >> shift);
        }
        acc += w * line;
    }
    return acc;
}

template <typename T>
__device__ __forceinline__ void farm_sample_chroma(const T* __restrict__ plane, int pitch, int cw, int ch,
                                                   int shift, FarmTaps tx, FarmTaps ty, int x, int y,
                                                   float& cb, float& cr) {
    const float* wy = ty.weights + (long long)y * ty.taps;
    const float* wx = tx.weights + (long long)x * tx.taps;
    int sy = ty.start[y], sx = tx.start[x];
    cb = 0.0f;
    cr = 0.0f;
    for (int j = 0; j < ty.taps; ++j) {
        float w = wy[j];
        if (w == 0.0f) continue;
        const T* row = plane + (long long)min(max(sy + j, 0), ch - 1) * pitch;
        float lb = 0.0f, lr = 0.0f;
        for (int i = 0; i < tx.taps; ++i) {
            const T* p = row + 2 * min(max(sx + i, 0), cw - 1);
            lb += wx[i] * (float)(p[0] >> shift);
            lr += wx[i] * (float)(p[1] >> shift);
        }
        cb += w * lb;
        cr += w * lr;
    }
}

__device__ __forceinline__ unsigned int farm_code(float v, float code_max) {
    return (unsigned int)rintf(farm_clamp(v, 0.0f, code_max));
}

template <typename T>
__device__ void farm_fused(const T* __restrict__ y_in, const T* __restrict__ uv_in, int in_w, int in_h,
                           int y_pitch, int uv_pitch, T* __restrict__ y_out, T* __restrict__ uv_out,
                           int out_w, int out_h, int y_out_pitch, int uv_out_pitch,
                           int fit_x, int fit_y, int fit_w, int fit_h,
                           FarmTaps lx, FarmTaps ly, FarmTaps cx, FarmTaps cy,
                           const FarmNode* __restrict__ table, int n, const float* __restrict__ lut_params,
                           int tetrahedral, const float* __restrict__ to_rgb, const float* __restrict__ to_yuv,
                           int shift, float code_max, float black_y, float black_c) {
    int bw = out_w / 2, bh = out_h / 2;
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
        float cb, cr;
        farm_sample_chroma(uv_in, uv_pitch, in_w / 2, in_h / 2, shift, cx, cy, px / 2, py / 2, cb, cr);
        float sum_cb = 0.0f, sum_cr = 0.0f;
        for (int dy = 0; dy < 2; ++dy) {
            for (int dx = 0; dx < 2; ++dx) {
                FarmRGB codes;
                codes.r = farm_sample_luma(y_in, y_pitch, in_w, in_h, shift, lx, ly, px + dx, py + dy);
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

#define FARM_FUSED_ENTRY(NAME, T, SHIFT, CODE_MAX)                                                              \
    extern "C" __global__ void NAME(                                                                            \
        const T* y_in, const T* uv_in, int in_w, int in_h, int y_pitch, int uv_pitch, T* y_out, T* uv_out,     \
        int out_w, int out_h, int y_out_pitch, int uv_out_pitch, int fit_x, int fit_y, int fit_w, int fit_h,   \
        const int* lx_start, const float* lx_weights, int lx_taps, const int* ly_start,                        \
        const float* ly_weights, int ly_taps, const int* cx_start, const float* cx_weights, int cx_taps,       \
        const int* cy_start, const float* cy_weights, int cy_taps, const FarmNode* table, int n,               \
        const float* lut_params, int tetrahedral, const float* to_rgb, const float* to_yuv, float black_y,     \
        float black_c) {                                                                                        \
        FarmTaps lx = {lx_start, lx_weights, lx_taps};                                                          \
        FarmTaps ly = {ly_start, ly_weights, ly_taps};                                                          \
        FarmTaps cx = {cx_start, cx_weights, cx_taps};                                                          \
        FarmTaps cy = {cy_start, cy_weights, cy_taps};                                                          \
        farm_fused<T>(y_in, uv_in, in_w, in_h, y_pitch, uv_pitch, y_out, uv_out, out_w, out_h, y_out_pitch,     \
                      uv_out_pitch, fit_x, fit_y, fit_w, fit_h, lx, ly, cx, cy, table, n, lut_params,           \
                      tetrahedral, to_rgb, to_yuv, SHIFT, CODE_MAX, black_y, black_c);                          \
    }

FARM_FUSED_ENTRY(farm_nv12_lut_resize_nv12, unsigned char, 0, 255.0f)
FARM_FUSED_ENTRY(farm_p010_lut_resize_p010, unsigned short, 6, 1023.0f)
