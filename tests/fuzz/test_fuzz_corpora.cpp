// The committed fuzz corpora (tests/fuzz/corpus: the seeds, and every crash input found and
// fixed) through the fuzz targets' own input functions, one input at a time, as
// `fuzz_TARGET -runs=0 tests/fuzz/corpus/TARGET` runs them. Part of the converter and tools
// suite, so the sanitizer build (scripts/sanitize.sh) runs them under ASan and UBSan without
// building the five libFuzzer programs. Each input must end in a result or a qint8::error (the
// functions take those); another exception fails the test, a crash or a sanitizer report stops it.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/input_datafile.hpp"
#include "fuzz/input_image.hpp"
#include "fuzz/input_manifest.hpp"
#include "fuzz/input_onnx.hpp"
#include "fuzz/input_tflite.hpp"

namespace {

/// Runs every file of tests/fuzz/corpus/`target` through `input`; returns how many there were.
template <class Input>
std::size_t fuzz_corpus_run(const std::string& target, Input input) {
    const std::filesystem::path dir = std::filesystem::path(QINT8_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target;
    REQUIRE(std::filesystem::is_directory(dir));
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        CAPTURE(f.string());
        std::ifstream in(f, std::ios::binary);
        REQUIRE(in);
        const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK_NOTHROW(input(bytes.data(), bytes.size()));
    }
    return files.size();
}

}  // namespace

TEST_SUITE("fuzz") {

TEST_CASE("fuzz corpus manifest - every committed input ends in a result or an error") {
    CHECK(fuzz_corpus_run("manifest", qint8::fuzz::manifest_input) >= 2);
}

TEST_CASE("fuzz corpus onnx - every committed input ends in a result or an error") {
    CHECK(fuzz_corpus_run("onnx", qint8::fuzz::onnx_input) >= 13);
}

TEST_CASE("fuzz corpus tflite - every committed input ends in a result or an error") {
    CHECK(fuzz_corpus_run("tflite", qint8::fuzz::tflite_input) >= 1);
}

TEST_CASE("fuzz corpus datafile - every committed input ends in a result or an error") {
    CHECK(fuzz_corpus_run("datafile", qint8::fuzz::datafile_input) >= 1);
}

TEST_CASE("fuzz corpus image - every committed input ends in a result or an error") {
    CHECK(fuzz_corpus_run("image", qint8::fuzz::image_input) >= 10);
}

}  // TEST_SUITE
