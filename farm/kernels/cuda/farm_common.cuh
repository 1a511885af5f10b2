// Device helpers shared by farm's kernels.
//
// No includes: NVRTC (CuPy) and nvcc both compile this as it is. The Python
// loader inlines this file where a kernel says #include "farm_common.cuh", so
// CuPy's compile cache sees the whole source.
#ifndef FARM_COMMON_CUH
#define FARM_COMMON_CUH

struct FarmRGB {
    float r, g, b;
};

// One node of a 3D LUT on the device: 16 bytes, so a node is one aligned load.
struct alignas(16) FarmNode {
    float r, g, b, pad;
};

__device__ __forceinline__ float farm_clamp(float x, float lo, float hi) {
    return fminf(fmaxf(x, lo), hi);
}

// out = M * v + offset; m holds 9 row-major coefficients then 3 offsets.
__device__ __forceinline__ FarmRGB farm_affine(const float* __restrict__ m, FarmRGB v) {
    FarmRGB o;
    o.r = m[0] * v.r + m[1] * v.g + m[2] * v.b + m[9];
    o.g = m[3] * v.r + m[4] * v.g + m[5] * v.b + m[10];
    o.b = m[6] * v.r + m[7] * v.g + m[8] * v.b + m[11];
    return o;
}

__device__ __forceinline__ FarmRGB farm_clamp_rgb(FarmRGB v, float lo, float hi) {
    v.r = farm_clamp(v.r, lo, hi);
    v.g = farm_clamp(v.g, lo, hi);
    v.b = farm_clamp(v.b, lo, hi);
    return v;
}

// Per-channel 1D shaper: shaper is (m, 3) row-major; p[0..2] domain minimum,
// p[3..5] (m - 1) / (max - min).
__device__ __forceinline__ float farm_shaper_channel(const float* __restrict__ shaper, int m, int c,
                                                     float lo, float scale, float x) {
    float pos = farm_clamp((x - lo) * scale, 0.0f, (float)(m - 1));
    int i = min((int)floorf(pos), m - 2);
    float f = pos - (float)i;
    float a = shaper[i * 3 + c];
    float b = shaper[(i + 1) * 3 + c];
    return a + (b - a) * f;
}

__device__ __forceinline__ FarmRGB farm_shaper(const float* __restrict__ shaper, int m,
                                               const float* __restrict__ p, FarmRGB v) {
    FarmRGB o;
    o.r = farm_shaper_channel(shaper, m, 0, p[0], p[3], v.r);
    o.g = farm_shaper_channel(shaper, m, 1, p[1], p[4], v.g);
    o.b = farm_shaper_channel(shaper, m, 2, p[2], p[5], v.b);
    return o;
}

__device__ __forceinline__ void farm_accumulate(FarmRGB& acc, const FarmNode* __restrict__ table, int index, float w) {
    FarmNode node = table[index];
    acc.r += w * node.r;
    acc.g += w * node.g;
    acc.b += w * node.b;
}

// 3D LUT lookup. table is (n, n, n) nodes indexed [r][g][b]; p[0..2] domain
// minimum, p[3..5] (n - 1) / (max - min). Inputs outside the domain clamp.
__device__ __forceinline__ FarmRGB farm_lut3d(const FarmNode* __restrict__ table, int n,
                                             const float* __restrict__ p, FarmRGB v, int tetrahedral) {
    float top = (float)(n - 1);
    float pr = farm_clamp((v.r - p[0]) * p[3], 0.0f, top);
    float pg = farm_clamp((v.g - p[1]) * p[4], 0.0f, top);
    float pb = farm_clamp((v.b - p[2]) * p[5], 0.0f, top);
    int ir = min((int)floorf(pr), n - 2);
    int ig = min((int)floorf(pg), n - 2);
    int ib = min((int)floorf(pb), n - 2);
    float fr = pr - (float)ir, fg = pg - (float)ig, fb = pb - (float)ib;
    const int sr = n * n, sg = n, sb = 1;
    int base = ir * sr + ig * sg + ib;
    FarmRGB acc = {0.0f, 0.0f, 0.0f};
    if (tetrahedral) {
        // Walk from the low corner along the axes in order of decreasing fraction.
        float f1, f2, f3;
        int s1, s2;
        if (fr >= fg) {
            if (fg >= fb)      { f1 = fr; f2 = fg; f3 = fb; s1 = sr; s2 = sg; }
            else if (fr >= fb) { f1 = fr; f2 = fb; f3 = fg; s1 = sr; s2 = sb; }
            else               { f1 = fb; f2 = fr; f3 = fg; s1 = sb; s2 = sr; }
        } else {
            if (fr >= fb)      { f1 = fg; f2 = fr; f3 = fb; s1 = sg; s2 = sr; }
            else if (fg >= fb) { f1 = fg; f2 = fb; f3 = fr; s1 = sg; s2 = sb; }
            else               { f1 = fb; f2 = fg; f3 = fr; s1 = sb; s2 = sg; }
        }
        farm_accumulate(acc, table, base, 1.0f - f1);
        farm_accumulate(acc, table, base + s1, f1 - f2);
        farm_accumulate(acc, table, base + s1 + s2, f2 - f3);
        farm_accumulate(acc, table, base + sr + sg + sb, f3);
    } else {
        for (int dr = 0; dr < 2; ++dr) {
            float wr = dr ? fr : 1.0f - fr;
            for (int dg = 0; dg < 2; ++dg) {
                float wg = dg ? fg : 1.0f - fg;
                farm_accumulate(acc, table, base + dr * sr + dg * sg, wr * wg * (1.0f - fb));
                farm_accumulate(acc, table, base + dr * sr + dg * sg + sb, wr * wg * fb);
            }
        }
    }
    return acc;
}

#endif  // FARM_COMMON_CUH
