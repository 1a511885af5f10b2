// Compositing: one layer mixed into a float accumulator, then the accumulator rounded to NV12.
// The CuPy twin of farm/kernels/_composite.py (the NumPy reference); read them side by side.
//
// The accumulator is the output picture in BT.709 limited-range Y'CbCr, in float32 on 8-bit
// code values: acc_y (h, w) and acc_uv (h/2, w/2, 2), contiguous. A layer is an NV12 picture
// (y (h, w), uv (h/2, w/2, 2), contiguous) with an optional straight alpha plane (h, w).
// A wipe's mask is a plane (h, w) of 0 and 1 (where the incoming clip shows), computed on the
// host by the CPU backend's own wipe_mask and uploaded: the kernel draws no wipe of its own.
// Per luma pixel
//     a = alpha / 255 * weight      (no mask: a dissolve or an opacity)
//     a = alpha / 255 * mask        (a wipe)
//     acc_y += a * (y - acc_y)
// and per chroma sample, with the mean of a over its 2x2 luma block,
//     ac = ((a00 + a01) + (a10 + a11)) / 4
//     acc_c += ac * (c - acc_c)
// Every operation is one IEEE float32 operation rounded to nearest (the __f*_rn intrinsics keep
// the compiler from fusing a multiply and an add), in the order NumPy performs them, so the
// twins agree bit for bit and the rounding in farm_finish happens once per frame.
#include "farm_common.cuh"

__device__ __forceinline__ float farm_layer_a(const unsigned char* __restrict__ alpha, int has_alpha,
                                              const unsigned char* __restrict__ mask, int has_mask,
                                              int width, int x, int y, float weight) {
    long long p = (long long)y * width + x;
    float a = has_alpha ? __fdiv_rn((float)alpha[p], 255.0f) : 1.0f;
    return __fmul_rn(a, has_mask ? (float)mask[p] : weight);
}

__device__ __forceinline__ void farm_mix(float* __restrict__ acc, float value, float a) {
    *acc = __fadd_rn(*acc, __fmul_rn(a, __fsub_rn(value, *acc)));
}

// One thread per chroma sample: its four luma pixels and its Cb and Cr.
extern "C" __global__ void farm_mix_layer(float* __restrict__ acc_y, float* __restrict__ acc_uv,
                                          const unsigned char* __restrict__ y,
                                          const unsigned char* __restrict__ uv,
                                          const unsigned char* __restrict__ alpha, int has_alpha,
                                          const unsigned char* __restrict__ mask, int has_mask,
                                          float weight, int width, int height) {
    int cw = width / 2;
    long long total = (long long)cw * (height / 2);
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int cx = (int)(i % cw);
        int cy = (int)(i / cw);
        int x0 = 2 * cx, y0 = 2 * cy;
        float a00 = farm_layer_a(alpha, has_alpha, mask, has_mask, width, x0, y0, weight);
        float a01 = farm_layer_a(alpha, has_alpha, mask, has_mask, width, x0 + 1, y0, weight);
        float a10 = farm_layer_a(alpha, has_alpha, mask, has_mask, width, x0, y0 + 1, weight);
        float a11 = farm_layer_a(alpha, has_alpha, mask, has_mask, width, x0 + 1, y0 + 1, weight);
        long long top = (long long)y0 * width + x0;
        long long bottom = top + width;
        farm_mix(acc_y + top, (float)y[top], a00);
        farm_mix(acc_y + top + 1, (float)y[top + 1], a01);
        farm_mix(acc_y + bottom, (float)y[bottom], a10);
        farm_mix(acc_y + bottom + 1, (float)y[bottom + 1], a11);
        float ac = __fdiv_rn(__fadd_rn(__fadd_rn(a00, a01), __fadd_rn(a10, a11)), 4.0f);
        farm_mix(acc_uv + 2 * i, (float)uv[2 * i], ac);
        farm_mix(acc_uv + 2 * i + 1, (float)uv[2 * i + 1], ac);
    }
}

// The accumulator rounded once (to nearest, ties to even, as numpy.rint) and clamped to 8 bits.
extern "C" __global__ void farm_finish(const float* __restrict__ acc, unsigned char* __restrict__ out,
                                       long long total) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        out[i] = (unsigned char)farm_clamp(rintf(acc[i]), 0.0f, 255.0f);
    }
}
