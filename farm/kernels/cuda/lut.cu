// Apply a (shaper +) 3D LUT to packed float RGB: the CuPy twin of farm.kernels.apply_lut.
#include "farm_common.cuh"

// rgb, out: (n_pixels, 3) float32, may alias.
// table: (n, n, n) FarmNode indexed [r][g][b]; shaper: (m, 3), ignored when m == 0.
// params: [0..5] table domain (min, scale), [6..11] shaper domain (min, scale).
extern "C" __global__ void farm_apply_lut(const float* rgb, float* out, long long n_pixels,
                                          const FarmNode* __restrict__ table, int n,
                                          const float* __restrict__ shaper, int m,
                                          const float* __restrict__ params, int tetrahedral) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n_pixels; i += stride) {
        FarmRGB v = {rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]};
        if (m > 0) {
            v = farm_shaper(shaper, m, params + 6, v);
        }
        v = farm_lut3d(table, n, params, v, tetrahedral);
        out[3 * i] = v.r;
        out[3 * i + 1] = v.g;
        out[3 * i + 2] = v.b;
    }
}
