// NV12 / P010 planes <-> float RGB: the CuPy twins of farm.kernels.yuv_to_rgb / rgb_to_yuv.
//
// Planes may be pitched (pitches are in elements, not bytes): y is (h, w),
// uv is (h/2, w/2) pairs of (Cb, Cr). P010 keeps the code in the high bits:
// shift is 6 for P010 and 0 for NV12. Chroma is sited "left" (MPEG-2/H.264
// type 0); see farm/kernels/_color.py for the conventions.
#include "farm_common.cuh"

// Bilinear (or nearest) chroma at luma position (x, y).
template <typename T>
__device__ __forceinline__ void farm_chroma_at(const T* __restrict__ uv, int uv_pitch, int cw, int ch,
                                               int x, int y, int shift, int bilinear, float& cb, float& cr) {
    if (!bilinear) {
        const T* p = uv + (long long)(y >> 1) * uv_pitch + 2 * (x >> 1);
        cb = (float)(p[0] >> shift);
        cr = (float)(p[1] >> shift);
        return;
    }
    float cx = 0.5f * (float)x;
    float cy = 0.5f * ((float)y - 0.5f);
    int x0 = min(max((int)floorf(cx), 0), cw - 1);
    int y0 = min(max((int)floorf(cy), 0), ch - 1);
    int x1 = min(x0 + 1, cw - 1);
    int y1 = min(y0 + 1, ch - 1);
    float fx = farm_clamp(cx - (float)x0, 0.0f, 1.0f);
    float fy = farm_clamp(cy - (float)y0, 0.0f, 1.0f);
    const T* r0 = uv + (long long)y0 * uv_pitch;
    const T* r1 = uv + (long long)y1 * uv_pitch;
    float w00 = (1.0f - fx) * (1.0f - fy), w01 = fx * (1.0f - fy), w10 = (1.0f - fx) * fy, w11 = fx * fy;
    cb = w00 * (float)(r0[2 * x0] >> shift) + w01 * (float)(r0[2 * x1] >> shift) +
         w10 * (float)(r1[2 * x0] >> shift) + w11 * (float)(r1[2 * x1] >> shift);
    cr = w00 * (float)(r0[2 * x0 + 1] >> shift) + w01 * (float)(r0[2 * x1 + 1] >> shift) +
         w10 * (float)(r1[2 * x0 + 1] >> shift) + w11 * (float)(r1[2 * x1 + 1] >> shift);
}

// to_rgb: 12 floats, rgb = M * (Y, Cb, Cr) + offset for integer-valued codes.
template <typename T>
__device__ void farm_yuv_to_rgb(const T* __restrict__ y, const T* __restrict__ uv, float* __restrict__ rgb,
                                int w, int h, int y_pitch, int uv_pitch, int shift,
                                const float* __restrict__ to_rgb, int bilinear) {
    long long total = (long long)w * h;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int px = (int)(i % w);
        int py = (int)(i / w);
        FarmRGB codes;
        codes.r = (float)(y[(long long)py * y_pitch + px] >> shift);
        farm_chroma_at(uv, uv_pitch, w / 2, h / 2, px, py, shift, bilinear, codes.g, codes.b);
        FarmRGB v = farm_clamp_rgb(farm_affine(to_rgb, codes), 0.0f, 1.0f);
        rgb[3 * i] = v.r;
        rgb[3 * i + 1] = v.g;
        rgb[3 * i + 2] = v.b;
    }
}

__device__ __forceinline__ FarmRGB farm_load_rgb(const float* __restrict__ rgb, long long i) {
    FarmRGB v = {rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]};
    return farm_clamp_rgb(v, 0.0f, 1.0f);
}

// Luma: one thread per pixel. to_yuv: codes = M * rgb + offset (unrounded).
template <typename T>
__device__ void farm_rgb_to_luma(const float* __restrict__ rgb, T* __restrict__ y, int w, int h, int y_pitch,
                                 int shift, float code_max, const float* __restrict__ to_yuv) {
    long long total = (long long)w * h;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int px = (int)(i % w);
        int py = (int)(i / w);
        FarmRGB v = farm_load_rgb(rgb, i);
        float code = to_yuv[0] * v.r + to_yuv[1] * v.g + to_yuv[2] * v.b + to_yuv[9];
        y[(long long)py * y_pitch + px] = (T)((unsigned int)rintf(farm_clamp(code, 0.0f, code_max)) << shift);
    }
}

// Chroma: one thread per chroma sample; [1 2 1]/4 across columns 2i-1..2i+1
// (clamped), [1 1]/2 across rows 2j, 2j+1.
template <typename T>
__device__ void farm_rgb_to_chroma(const float* __restrict__ rgb, T* __restrict__ uv, int w, int h, int uv_pitch,
                                   int shift, float code_max, const float* __restrict__ to_yuv) {
    int cw = w / 2, ch = h / 2;
    long long total = (long long)cw * ch;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int cx = (int)(i % cw);
        int cy = (int)(i / cw);
        float cb = 0.0f, cr = 0.0f;
        for (int dy = 0; dy < 2; ++dy) {
            long long row = (long long)(2 * cy + dy) * w;
            for (int dx = -1; dx <= 1; ++dx) {
                int x = max(2 * cx + dx, 0);
                float wgt = (dx == 0 ? 0.25f : 0.125f);
                FarmRGB v = farm_load_rgb(rgb, row + x);
                cb += wgt * (to_yuv[3] * v.r + to_yuv[4] * v.g + to_yuv[5] * v.b + to_yuv[10]);
                cr += wgt * (to_yuv[6] * v.r + to_yuv[7] * v.g + to_yuv[8] * v.b + to_yuv[11]);
            }
        }
        T* p = uv + (long long)cy * uv_pitch + 2 * cx;
        p[0] = (T)((unsigned int)rintf(farm_clamp(cb, 0.0f, code_max)) << shift);
        p[1] = (T)((unsigned int)rintf(farm_clamp(cr, 0.0f, code_max)) << shift);
    }
}

extern "C" __global__ void farm_nv12_to_rgb(const unsigned char* y, const unsigned char* uv, float* rgb,
                                            int w, int h, int y_pitch, int uv_pitch,
                                            const float* to_rgb, int bilinear) {
    farm_yuv_to_rgb<unsigned char>(y, uv, rgb, w, h, y_pitch, uv_pitch, 0, to_rgb, bilinear);
}

extern "C" __global__ void farm_p010_to_rgb(const unsigned short* y, const unsigned short* uv, float* rgb,
                                            int w, int h, int y_pitch, int uv_pitch,
                                            const float* to_rgb, int bilinear) {
    farm_yuv_to_rgb<unsigned short>(y, uv, rgb, w, h, y_pitch, uv_pitch, 6, to_rgb, bilinear);
}

extern "C" __global__ void farm_rgb_to_nv12_luma(const float* rgb, unsigned char* y, int w, int h, int y_pitch,
                                                 const float* to_yuv) {
    farm_rgb_to_luma<unsigned char>(rgb, y, w, h, y_pitch, 0, 255.0f, to_yuv);
}

extern "C" __global__ void farm_rgb_to_nv12_chroma(const float* rgb, unsigned char* uv, int w, int h, int uv_pitch,
                                                   const float* to_yuv) {
    farm_rgb_to_chroma<unsigned char>(rgb, uv, w, h, uv_pitch, 0, 255.0f, to_yuv);
}

extern "C" __global__ void farm_rgb_to_p010_luma(const float* rgb, unsigned short* y, int w, int h, int y_pitch,
                                                 const float* to_yuv) {
    farm_rgb_to_luma<unsigned short>(rgb, y, w, h, y_pitch, 6, 1023.0f, to_yuv);
}

extern "C" __global__ void farm_rgb_to_p010_chroma(const float* rgb, unsigned short* uv, int w, int h, int uv_pitch,
                                                   const float* to_yuv) {
    farm_rgb_to_chroma<unsigned short>(rgb, uv, w, h, uv_pitch, 6, 1023.0f, to_yuv);
}
