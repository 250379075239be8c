// nsbg.hpp: a small C++17 RAII wrapper over the C ABI in nsbg.h (header-only, hand-written).
// Errors become nsbg::Error exceptions carrying the nsbg_status; buffers are std::vector-backed.
#ifndef NSBG_HPP
#define NSBG_HPP

#include "nsbg.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nsbg {

/// A failed nsbg call.
class Error : public std::runtime_error {
  public:
    explicit Error(nsbg_status s, const char *what_call)
        : std::runtime_error(std::string(what_call) + ": " + nsbg_status_str(static_cast<int32_t>(s))), status_(s) {}
    nsbg_status status() const noexcept { return status_; }

  private:
    nsbg_status status_;
};

inline void check(nsbg_status s, const char *what_call) {
    if (s != NSBG_OK) throw Error(s, what_call);
}

inline std::string version() { return nsbg_version(); }

enum class Extension : int32_t {
    Symmetric = NSBG_EXT_SYMMETRIC,
    Periodization = NSBG_EXT_PERIODIZATION,
    Zero = NSBG_EXT_ZERO,
};

namespace detail {
inline nsbg_status dwt(float *d, size_t w, size_t h, size_t s, uint32_t l, int32_t e, bool inv) {
    return inv ? nsbg_idwt2_f32(d, w, h, s, l, e) : nsbg_dwt2_f32(d, w, h, s, l, e);
}
inline nsbg_status dwt(double *d, size_t w, size_t h, size_t s, uint32_t l, int32_t e, bool inv) {
    return inv ? nsbg_idwt2_f64(d, w, h, s, l, e) : nsbg_dwt2_f64(d, w, h, s, l, e);
}
}  // namespace detail

/// An owned plane of `height` rows of `stride` samples; the transforms work on it in place.
template <typename T>
class Plane {
  public:
    Plane(size_t width, size_t height, size_t stride = 0)
        : width_(width), height_(height), stride_(stride ? stride : width), data_(height * (stride ? stride : width)) {}

    T &at(size_t y, size_t x) { return data_[y * stride_ + x]; }
    const T &at(size_t y, size_t x) const { return data_[y * stride_ + x]; }
    size_t width() const noexcept { return width_; }
    size_t height() const noexcept { return height_; }
    size_t stride() const noexcept { return stride_; }
    std::vector<T> &data() noexcept { return data_; }

    /// Forward transform, `levels` levels (throws nsbg::Error, plane untouched on error).
    void forward(uint32_t levels, Extension ext = Extension::Symmetric) {
        check(detail::dwt(data_.data(), width_, height_, stride_, levels, static_cast<int32_t>(ext), false), "nsbg_dwt2");
    }
    /// Inverse transform.
    void inverse(uint32_t levels, Extension ext = Extension::Symmetric) {
        check(detail::dwt(data_.data(), width_, height_, stride_, levels, static_cast<int32_t>(ext), true), "nsbg_idwt2");
    }

  private:
    size_t width_, height_, stride_;
    std::vector<T> data_;
};

/// `[channels][side][side]` → `[patch][channel][32][32]` (see nsbg_tile_f32).
inline std::vector<float> tile(const std::vector<float> &block, size_t side, size_t channels,
                               Extension ext = Extension::Symmetric) {
    std::vector<float> patches(block.size());
    if (block.size() != channels * side * side) throw Error(NSBG_ERR_BUFFER_SIZE, "nsbg_tile_f32");
    check(nsbg_tile_f32(block.data(), side, channels, static_cast<int32_t>(ext), patches.data(), patches.size()),
          "nsbg_tile_f32");
    return patches;
}

/// Inverse of tile().
inline std::vector<float> untile(const std::vector<float> &patches, size_t side, size_t channels,
                                 Extension ext = Extension::Symmetric) {
    std::vector<float> block(channels * side * side);
    check(nsbg_untile_f32(patches.data(), patches.size(), side, channels, static_cast<int32_t>(ext), block.data()),
          "nsbg_untile_f32");
    return block;
}


/// A decoder model (RAII over nsbg_model*). Movable, not copyable; decode() may be called from several
/// threads at once on the same Model.
class Model {
  public:
    /// Parses a weight file held in memory (the bytes may be freed afterwards).
    explicit Model(const std::vector<uint8_t> &bytes) {
        nsbg_model *m = nullptr;
        check(nsbg_model_open(bytes.data(), bytes.size(), &m), "nsbg_model_open");
        handle_.reset(m);
    }

    nsbg_model_info info() const {
        nsbg_model_info i{};
        check(nsbg_model_info_get(handle_.get(), &i), "nsbg_model_info_get");
        return i;
    }

    /// [3][in][in] low band -> [3][out][out] image.
    std::vector<float> decode(const std::vector<float> &low) const {
        const nsbg_model_info i = info();
        std::vector<float> image(size_t(i.channels) * i.out_size * i.out_size);
        check(nsbg_decode(handle_.get(), low.data(), low.size(), image.data(), image.size()), "nsbg_decode");
        return image;
    }

    /// One level (1 = first): [3][s][s] -> [3][2s][2s].
    std::vector<float> decode_level(uint32_t level, const std::vector<float> &input) const {
        const nsbg_model_info i = info();
        const size_t s = size_t(i.in_size) << (level > 0 ? level - 1 : 0);
        std::vector<float> out(size_t(i.channels) * 4 * s * s);
        check(nsbg_decode_level(handle_.get(), level, input.data(), input.size(), out.data(), out.size()),
              "nsbg_decode_level");
        return out;
    }

    const nsbg_model *get() const noexcept { return handle_.get(); }

  private:
    struct Free {
        void operator()(nsbg_model *m) const noexcept { nsbg_model_free(m); }
    };
    std::unique_ptr<nsbg_model, Free> handle_;
};

}  // namespace nsbg

#endif  // NSBG_HPP
