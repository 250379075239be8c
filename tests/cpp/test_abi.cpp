// C++ test of include/nsbg.hpp: round trips through the RAII wrapper, errors as exceptions with
// the right status, and the plane left untouched after a failed call.
#include "nsbg.hpp"

#include <cstring>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

static int checks = 0, failures = 0;
#define CHECK(cond, msg)                                                    \
    do {                                                                    \
        ++checks;                                                           \
        if (!(cond)) {                                                      \
            ++failures;                                                     \
            std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, msg); \
        }                                                                   \
    } while (0)

template <typename T>
static void round_trip(nsbg::Extension ext, double tol) {
    nsbg::Plane<T> p(130, 66, 133);
    for (size_t y = 0; y < p.height(); ++y)
        for (size_t x = 0; x < p.width(); ++x) p.at(y, x) = static_cast<T>(std::sin(0.1 * x) * std::cos(0.07 * y));
    auto orig = p.data();
    p.forward(1, ext);
    CHECK(p.data() != orig, "forward changed nothing");
    p.inverse(1, ext);
    double e = 0;
    for (size_t i = 0; i < orig.size(); ++i) e = std::fmax(e, std::fabs(double(p.data()[i]) - double(orig[i])));
    CHECK(e <= tol, "round trip error too large");
}

static std::vector<uint8_t> read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static std::vector<float> read_f32(const std::string &path) {
    auto b = read_file(path);
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

static void model_tests(const std::string &dir) {
    auto bytes = read_file(dir + "/tiny_wavelet.safetensors");
    CHECK(!bytes.empty(), "fixture weights");
    {
        nsbg::Model model(bytes);
        CHECK(model.info().levels == 2 && model.info().kind == 1, "info");
        auto low = read_f32(dir + "/low.f32");
        auto want = read_f32(dir + "/image.f32");
        auto image = model.decode(low);
        double e = 0;
        for (size_t i = 0; i < want.size(); ++i) e = std::fmax(e, std::fabs(double(image[i]) - want[i]));
        CHECK(image.size() == want.size() && e <= 1e-4, "decode vs reference");
        auto progressive = model.decode_level(2, model.decode_level(1, low));
        CHECK(progressive == image, "progressive == full");
        bool threw = false;
        try {
            low.pop_back();
            model.decode(low);
        } catch (const nsbg::Error &err) {
            threw = err.status() == NSBG_ERR_BUFFER_SIZE;
        }
        CHECK(threw, "short low band throws BUFFER_SIZE");
    }  // the Model frees its handle here
    bool threw = false;
    try {
        bytes.resize(100);
        nsbg::Model bad(bytes);
    } catch (const nsbg::Error &err) {
        threw = err.status() == NSBG_ERR_FORMAT;
    }
    CHECK(threw, "truncated file throws FORMAT");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s tests/fixtures/decoder\n", argv[0]);
        return 2;
    }
    model_tests(argv[1]);
    CHECK(!nsbg::version().empty(), "version");
    round_trip<float>(nsbg::Extension::Symmetric, 1e-5);
    round_trip<double>(nsbg::Extension::Symmetric, 1e-12);
    round_trip<double>(nsbg::Extension::Periodization, 1e-12);

    nsbg::Plane<float> odd(7, 8);
    for (auto &v : odd.data()) v = 1.5f;
    auto before = odd.data();
    bool threw = false;
    try {
        odd.forward(1, nsbg::Extension::Periodization);
    } catch (const nsbg::Error &e) {
        threw = e.status() == NSBG_ERR_INVALID_ARGUMENT;
    }
    CHECK(threw, "odd width in periodization must throw INVALID_ARGUMENT");
    CHECK(odd.data() == before, "plane modified by a failed call");

    std::vector<float> block(3 * 128 * 128);
    for (size_t i = 0; i < block.size(); ++i) block[i] = float(i % 97) / 96.0f;
    auto patches = nsbg::tile(block, 128, 3);
    auto back = nsbg::untile(patches, 128, 3);
    double e = 0;
    for (size_t i = 0; i < block.size(); ++i) e = std::fmax(e, std::fabs(double(back[i]) - block[i]));
    CHECK(e < 1e-5, "tile round trip");
    threw = false;
    try {
        nsbg::tile(block, 96, 3);
    } catch (const nsbg::Error &err) {
        threw = err.status() == NSBG_ERR_BUFFER_SIZE || err.status() == NSBG_ERR_INVALID_ARGUMENT;
    }
    CHECK(threw, "side 96 must throw");

    std::printf("C++ wrapper test: %d checks: %d passed, %d failed\n", checks, checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
