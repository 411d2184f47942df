// The replay driver of the normal build: runs a harness's
// LLVMFuzzerTestOneInput on every file of the folders given (its seed corpus
// and its regressions), so `make test` checks every saved input without
// clang or libFuzzer. A crash or a broken invariant aborts the run; the
// input being replayed was printed just before. A folder that is missing or
// holds no input fails the run, so a test can never pass having replayed
// nothing. Files named README* are documentation, not inputs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FOLDER...\n(replays every file of each folder through the harness)\n", argv[0]);
        return 2;
    }
    for (int a = 1; a < argc; ++a) {
        const fs::path dir = argv[a];
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) {
            std::fprintf(stderr, "%s: no such folder; each door needs tests/fuzz/corpus/<door> and tests/fuzz/regressions/<door>\n",
                         dir.c_str());
            return 1;
        }
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (!entry.is_regular_file()) continue;
            if (entry.path().filename().string().rfind("README", 0) == 0) continue;
            files.push_back(entry.path());
        }
        if (ec) {
            std::fprintf(stderr, "%s: cannot list the folder: %s\n", dir.c_str(), ec.message().c_str());
            return 1;
        }
        if (files.empty()) {
            std::fprintf(stderr, "%s: holds no input to replay; add at least one (tests/fuzz/README.md)\n", dir.c_str());
            return 1;
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (!in.good() && !in.eof()) {
                std::fprintf(stderr, "%s: cannot read the file\n", file.c_str());
                return 1;
            }
            std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.c_str(), bytes.size());
            LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        }
        std::printf("%s: %zu inputs replayed cleanly\n", dir.c_str(), files.size());
    }
    return 0;
}
