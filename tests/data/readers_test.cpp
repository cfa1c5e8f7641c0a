// Readers (IDX, CSV, image folders) on small files made here, good and bad: every bad file
// gives an error that names the file and what is wrong.
#include <stb/stb_image_write.h>
#include <sys/stat.h>

#include "data_test_util.h"

using namespace nabla;
using namespace nabla::data;
using data_test::idx_bytes;
using data_test::read_bytes;
using data_test::TempDir;
using data_test::write_bytes;
using data_test::write_gzip;
using data_test::write_text;

// ---- IDX ------------------------------------------------------------------------------------

TEST(IdxReader, ReadsPlainAndGzip) {
  TempDir dir;
  std::vector<uint8_t> data(2 * 3 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  write_bytes(dir.file("a.idx"), idx_bytes({2, 3, 4}, data));
  write_gzip(dir.file("a.idx.gz"), idx_bytes({2, 3, 4}, data));
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    Tensor t = read_idx(dir.file(name));
    EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(t.to_vector<uint8_t>(), data) << name;
  }
}

TEST(IdxReader, BadFiles) {
  TempDir dir;
  std::string missing = dir.file("nope.idx");
  EXPECT_ERROR(read_idx(missing), missing, "file not found");
  EXPECT_ERROR(read_idx(dir.path().string()), "is a directory");

  // Not regular files: refused before the open (a FIFO would block it until a writer came,
  // /dev/zero would be read until memory ran out).
  std::string fifo = dir.file("pipe.idx");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  data_test::within(std::chrono::seconds(30), [&] {
    EXPECT_ERROR(read_idx(fifo), "[read_idx]", fifo, "FIFO", "not a regular file");
    EXPECT_ERROR(read_idx("/dev/zero"), "[read_idx]", "/dev/zero", "character device");
    EXPECT_ERROR(read_csv(fifo), "[read_csv]", fifo, "FIFO");
  });

  std::string magic = dir.file("magic.idx");
  std::vector<uint8_t> b = idx_bytes({2}, {1, 2});
  b[0] = 0x1f;
  write_bytes(magic, b);
  EXPECT_ERROR(read_idx(magic), magic, "bad magic number");

  std::string type = dir.file("type.idx");
  b = idx_bytes({2}, {1, 2});
  b[2] = 0x0D;  // float32 elements: not what MNIST uses
  write_bytes(type, b);
  EXPECT_ERROR(read_idx(type), type, "element type");

  std::string trunc = dir.file("trunc.idx");
  write_bytes(trunc, idx_bytes({3, 2, 2}, {1, 2, 3, 4, 5, 6, 7}));
  EXPECT_ERROR(read_idx(trunc), trunc, "truncated data", "needs 12 bytes, file has 7");

  std::string header = dir.file("header.idx");
  write_bytes(header, {0, 0, 8, 3, 0, 0});
  EXPECT_ERROR(read_idx(header), header, "truncated header");

  // Sizes whose product wraps a 64-bit count (2^64 here) are refused naming the file.
  std::string huge = dir.file("huge.idx");
  write_bytes(huge, {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 1, 0, 0, 0});
  EXPECT_ERROR(read_idx(huge), huge, "implausibly large");

  std::string trailing = dir.file("trailing.idx");
  write_bytes(trailing, idx_bytes({2}, {1, 2, 3}));
  EXPECT_ERROR(read_idx(trailing), trailing, "trailing data");

  // A gzip stream cut short.
  std::string gz = dir.file("cut.idx.gz");
  std::vector<uint8_t> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t((i * 2654435761u) >> 13);
  write_gzip(gz, idx_bytes({5000}, big));
  std::vector<uint8_t> packed = read_bytes(gz);
  packed.resize(packed.size() / 2);
  write_bytes(gz, packed);
  EXPECT_ERROR(read_idx(gz), gz, "truncated");
}

TEST(IdxReader, MnistFolderChecks) {
  TempDir dir;
  std::vector<uint8_t> img(3 * 28 * 28, 5);
  auto path = [&](const char* n) { return dir.file(n); };
  write_gzip(path("train-images-idx3-ubyte.gz"), idx_bytes({3, 28, 28}, img));
  write_gzip(path("train-labels-idx1-ubyte.gz"), idx_bytes({3}, {0, 9, 4}));
  ImageSet s = load_mnist(dir.path().string(), true);
  EXPECT_EQ(s.images.shape(), (Shape{3, 28, 28}));
  EXPECT_EQ(s.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 9, 4}));

  // Label count != image count.
  write_gzip(path("train-labels-idx1-ubyte.gz"), idx_bytes({2}, {0, 9}));
  EXPECT_ERROR(load_mnist(dir.path().string(), true), "train-labels-idx1-ubyte.gz has 2 labels",
               "train-images-idx3-ubyte.gz has 3 images");
  // Label out of range.
  write_gzip(path("train-labels-idx1-ubyte.gz"), idx_bytes({3}, {0, 10, 4}));
  EXPECT_ERROR(load_mnist(dir.path().string(), true), "train-labels-idx1-ubyte.gz", "label 10 at index 1",
               "out of range for 10 classes");
  // Missing split.
  EXPECT_ERROR(load_mnist(dir.path().string(), false), "t10k-images-idx3-ubyte", "found");
}

// ---- CSV ------------------------------------------------------------------------------------

TEST(CsvReader, ReadsHeaderQuotesBlankLinesAndGzip) {
  TempDir dir;
  std::string text = "label,a,\"b\"\r\n1,0.5,2\r\n\r\n0,\"-3e2\", 4 \r\n2,+7,8";
  write_text(dir.file("d.csv"), text);
  write_gzip(dir.file("d.csv.gz"), std::vector<uint8_t>(text.begin(), text.end()));
  for (const char* name : {"d.csv", "d.csv.gz"}) {
    CsvData d = read_csv(dir.file(name));
    EXPECT_EQ(d.features.shape(), (Shape{3, 2})) << name;
    EXPECT_EQ(d.features.to_vector<float>(), (std::vector<float>{0.5, 2, -300, 4, 7, 8}));
    EXPECT_EQ(d.labels.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 2}));
    EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  }
  // Label by name, in the last column, semicolon-separated, no header detection needed.
  write_text(dir.file("e.csv"), "x;y;cls\n1;2;3\n4;5;0\n");
  CsvOptions o;
  o.delimiter = ';';
  o.label_column = "cls";
  CsvData e = read_csv(dir.file("e.csv"), o);
  EXPECT_EQ(e.labels.to_vector<int64_t>(), (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(e.features.to_vector<float>(), (std::vector<float>{1, 2, 4, 5}));
  // No header, label by negative index.
  write_text(dir.file("f.csv"), "1,2,1\n3,4,0\n");
  CsvOptions g;
  g.label_index = -1;
  CsvData f = read_csv(dir.file("f.csv"), g);
  EXPECT_EQ(f.labels.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(f.feature_names, (std::vector<std::string>{"col0", "col1"}));
  // Into a data set: examples are feature vectors.
  TensorDataset ds(f.features, f.labels);
  EXPECT_EQ(ds.get(1).input.to_vector<float>(), (std::vector<float>{3, 4}));
}

TEST(CsvReader, BadFiles) {
  TempDir dir;
  auto bad = [&](const std::string& name, const std::string& text) {
    std::string p = dir.file(name);
    write_text(p, text);
    return p;
  };
  std::string missing = dir.file("missing.csv");
  EXPECT_ERROR(read_csv(missing), missing, "file not found");
  std::string empty_file = bad("empty.csv", "");
  EXPECT_ERROR(read_csv(empty_file), empty_file, "empty");
  std::string only_header = bad("header.csv", "label,a,b\n");
  EXPECT_ERROR(read_csv(only_header), only_header, "no data rows");
  std::string ragged = bad("ragged.csv", "label,a,b\n1,2,3\n0,5\n");
  EXPECT_ERROR(read_csv(ragged), ragged, "line 3 has 2 fields, expected 3", "ragged");
  std::string ragged_long = bad("ragged2.csv", "1,2,3\n0,5,6,7\n");
  EXPECT_ERROR(read_csv(ragged_long), ragged_long, "line 2 has 4 fields, expected 3");
  std::string text = bad("text.csv", "label,a,b\n1,2,3\n0,abc,6\n");
  EXPECT_ERROR(read_csv(text), text, "line 3, column 2 (a): 'abc' is not a number");
  std::string partial = bad("partial.csv", "label,a,b\n1,2.5x,3\n");
  EXPECT_ERROR(read_csv(partial), partial, "'2.5x' is not a number");
  std::string hole = bad("hole.csv", "label,a,b\n1,,3\n");
  EXPECT_ERROR(read_csv(hole), hole, "line 2, column 2 (a): empty cell");
  std::string nan = bad("nan.csv", "label,a\n1,nan\n");
  EXPECT_ERROR(read_csv(nan), nan, "'nan' is not a finite number");
  std::string frac = bad("frac.csv", "label,a\n1.5,2\n");
  EXPECT_ERROR(read_csv(frac), frac, "line 2", "'1.5' is not an integer class label");
  std::string neg = bad("neg.csv", "label,a\n-1,2\n");
  EXPECT_ERROR(read_csv(neg), neg, "label -1 is out of range");
  std::string range = bad("range.csv", "label,a\n0,2\n3,2\n");
  CsvOptions three;
  three.num_classes = 3;
  EXPECT_ERROR(read_csv(range, three), range, "line 3: label 3 is out of range for 3 classes");
  CsvOptions named;
  named.label_column = "target";
  EXPECT_ERROR(read_csv(range, named), range, "no column named 'target'", "columns: label, a");
  std::string one_col = bad("onecol.csv", "1\n2\n");
  EXPECT_ERROR(read_csv(one_col), one_col, "at least one feature column");
  std::string quote = bad("quote.csv", "label,a\n1,\"2\n");
  EXPECT_ERROR(read_csv(quote), quote, "unterminated quoted cell");
  std::string binary = dir.file("bin.csv");
  write_bytes(binary, {'1', ',', 0, '2', '\n'});
  EXPECT_ERROR(read_csv(binary), binary, "NUL bytes");
  CsvOptions idx;
  idx.label_index = 5;
  EXPECT_ERROR(read_csv(range, idx), "label column index 5 is out of range for 2 columns");
}

// ---- image folders ----------------------------------------------------------------------------

namespace {
// A grey h x w PNG whose pixel (y, x) is base + 10 y + x.
void write_png(const std::string& path, int h, int w, int base, int channels = 1) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::vector<uint8_t> px(size_t(h * w * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) px[size_t((y * w + x) * channels + c)] = uint8_t(base + 10 * y + x + c);
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, channels, px.data(), w * channels), 0);
}
}  // namespace

TEST(ImageFolder, ReadsClassesInSortedOrder) {
  TempDir dir;
  std::string root = dir.file("imgs");
  write_png(root + "/dog/b.png", 3, 4, 100);
  write_png(root + "/dog/a.PNG", 3, 4, 50);
  write_png(root + "/cat/z.png", 3, 4, 0);
  write_text(root + "/cat/notes.txt", "not an image, skipped");
  write_text(root + "/README", "top-level files are not classes");
  ImageFolder f(root);
  EXPECT_EQ(f.classes(), (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(f.size(), 3);
  EXPECT_EQ(f.channels(), 1);
  Example e0 = f.get(0), e1 = f.get(1), e2 = f.get(2);
  EXPECT_EQ(e0.target, 0);
  EXPECT_EQ(e1.target, 1);
  EXPECT_EQ(e2.target, 1);
  EXPECT_EQ(e1.input.shape(), (Shape{1, 3, 4}));
  // dog/a.PNG (base 50) sorts before dog/b.png; pixel (2, 3) = 50 + 23.
  EXPECT_FLOAT_EQ(e1.input.data_ptr<float>()[2 * 4 + 3], 73.f / 255.f);
  EXPECT_FLOAT_EQ(e2.input.data_ptr<float>()[0], 100.f / 255.f);

  // Forced RGB, a JPEG, and resizing to a fixed size.
  std::vector<uint8_t> rgb(6 * 5 * 3, 128);
  ASSERT_NE(stbi_write_jpg((root + "/dog/c.jpg").c_str(), 5, 6, 3, rgb.data(), 95), 0);
  ImageFolderOptions o;
  o.channels = 3;
  o.height = 8;
  o.width = 8;
  ImageFolder g(root, o);
  EXPECT_EQ(g.size(), 4);
  for (int64_t i = 0; i < g.size(); ++i) EXPECT_EQ(g.get(i).input.shape(), (Shape{3, 8, 8}));
  EXPECT_NEAR(g.get(3).input.data_ptr<float>()[27], 128.f / 255.f, 0.02);
  // Without resizing, the odd-sized JPEG is an error naming it.
  ImageFolder h(root);
  EXPECT_ERROR(h.get(3), "c.jpg", "image is 6 x 5", "3 x 4");
  // Loaded through the DataLoader with workers.
  auto shared = std::make_shared<ImageFolder>(root, o);
  DataLoader l(shared, {.batch_size = 4, .seed = 1, .num_workers = 2});
  data_test::within(std::chrono::seconds(30), [&] {
    l.start_epoch(0);
    auto b = l.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->inputs.shape(), (Shape{4, 3, 8, 8}));
  });
}

TEST(ImageFolder, BadFolders) {
  TempDir dir;
  std::string missing = dir.file("none");
  EXPECT_ERROR(ImageFolder(missing), missing, "folder not found");
  std::string file = dir.file("file.txt");
  write_text(file, "x");
  EXPECT_ERROR(ImageFolder(file), file, "is not a folder");
  std::string flat = dir.file("flat");
  write_png(flat + "/a.png", 2, 2, 0);
  EXPECT_ERROR(ImageFolder(flat), flat, "no class sub-folders");
  std::string hollow = dir.file("hollow");
  write_png(hollow + "/a/x.png", 2, 2, 0);
  std::filesystem::create_directories(hollow + "/b");
  write_text(hollow + "/b/readme.txt", "no images here");
  EXPECT_ERROR(ImageFolder(hollow), "hollow/b", "class folder 'b' has no image files");
}

TEST(ImageFolder, CorruptAndTruncatedImages) {
  TempDir dir;
  std::string root = dir.file("imgs");
  write_png(root + "/a/0.png", 4, 4, 0);
  write_png(root + "/b/1.png", 4, 4, 0);
  std::string junk = root + "/b/2.png";
  write_text(junk, "this is not a png at all");
  std::string cut = root + "/b/3.png";
  std::vector<uint8_t> good = read_bytes(root + "/a/0.png");
  good.resize(good.size() / 2);
  write_bytes(cut, good);
  std::string empty_png = root + "/b/4.png";
  write_text(empty_png, "");
  ImageFolder f(root);
  ASSERT_EQ(f.size(), 5);
  EXPECT_ERROR(f.get(2), junk, "cannot decode image");
  EXPECT_ERROR(f.get(3), cut, "cannot decode image");
  EXPECT_ERROR(f.get(4), empty_png, "file is empty");
  EXPECT_ERROR(load_image(junk), "[load_image]", junk);
  // A folder or a device is named as such (a folder used to read as "file is empty").
  EXPECT_ERROR(load_image(root), "[load_image]", root, "is a directory");
  std::string fifo = dir.file("pipe.png");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  data_test::within(std::chrono::seconds(30), [&] {
    EXPECT_ERROR(load_image(fifo), "[load_image]", fifo, "FIFO");
    EXPECT_ERROR(load_image("/dev/zero"), "[load_image]", "/dev/zero", "character device");
  });
  // Formats stb decodes without noticing a cut (PNM from uninitialized memory, BMP as zeros, GIF
  // as a whole image; found by helper-36) are measured against their headers; 0-pixel images
  // are refused.
  auto bytes_of = [](const std::string& text) { return std::vector<uint8_t>(text.begin(), text.end()); };
  std::vector<uint8_t> pgm = bytes_of("P5\n# a comment\n3 2\n255\n");
  for (uint8_t v : {0, 50, 100, 150, 200, 250}) pgm.push_back(v);
  const std::string pgm_ok = dir.file("ok.pgm"), pgm_cut = dir.file("cut.pgm");
  write_bytes(pgm_ok, pgm);
  pgm.resize(pgm.size() - 3);
  write_bytes(pgm_cut, pgm);
  EXPECT_EQ(load_image(pgm_ok).shape(), (Shape{1, 2, 3}));
  EXPECT_NEAR(load_image(pgm_ok).to_vector<double>()[5], 250.0 / 255, 1e-6);
  EXPECT_ERROR(load_image(pgm_cut), "[load_image]", pgm_cut, "truncated PNM image (26 bytes, its header needs 29)");
  std::vector<uint8_t> wide = bytes_of("P5 2 1 65535\n");  // two bytes a sample
  for (uint8_t v : {0, 1, 255, 255}) wide.push_back(v);
  const std::string pgm16 = dir.file("wide.pgm");
  write_bytes(pgm16, wide);
  EXPECT_EQ(load_image(pgm16).shape(), (Shape{1, 1, 2}));
  const std::string bmp_ok = dir.file("ok.bmp"), bmp_cut = dir.file("cut.bmp");
  std::vector<uint8_t> rgb(5 * 3 * 3, 7);
  ASSERT_NE(stbi_write_bmp(bmp_ok.c_str(), 5, 3, 3, rgb.data()), 0);
  std::vector<uint8_t> bmp = read_bytes(bmp_ok);
  bmp.resize(bmp.size() - 10);
  write_bytes(bmp_cut, bmp);
  EXPECT_EQ(load_image(bmp_ok).shape(), (Shape{3, 3, 5}));
  EXPECT_ERROR(load_image(bmp_cut), "[load_image]", bmp_cut, "truncated BMP image");
  bmp = read_bytes(bmp_ok);
  bmp.pop_back();  // only the last row's padding missing: every pixel is there (stb reads it)
  write_bytes(bmp_cut, bmp);
  EXPECT_EQ(load_image(bmp_cut).shape(), (Shape{3, 3, 5}));
  // The classic 1x1 GIF, whole and cut before its trailer.
  std::vector<uint8_t> gif = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFF,
                              0xFF, 0x00, 0x00, 0x00, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00,
                              0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B};
  const std::string gif_ok = dir.file("ok.gif"), gif_cut = dir.file("cut.gif");
  write_bytes(gif_ok, gif);
  gif.resize(gif.size() - 4);
  write_bytes(gif_cut, gif);
  EXPECT_EQ(load_image(gif_ok).shape(), (Shape{4, 1, 1}));  // stb decodes GIFs as RGBA
  EXPECT_ERROR(load_image(gif_cut), "[load_image]", gif_cut, "truncated GIF image");
  gif.resize(gif.size() + 3);  // whole again, without the trailer byte, and then padding after it
  gif[39] = 0x44, gif[40] = 0x01, gif[41] = 0x00;
  write_bytes(gif_cut, gif);
  EXPECT_EQ(load_image(gif_cut).shape(), (Shape{4, 1, 1}));
  gif.push_back(0x3B);
  for (int i = 0; i < 16; ++i) gif.push_back(i == 0 ? '\n' : 0);
  write_bytes(gif_cut, gif);
  EXPECT_EQ(load_image(gif_cut).shape(), (Shape{4, 1, 1}));
  const std::string zero = dir.file("zero.pgm");
  write_bytes(zero, bytes_of("P5 0 3 255\n"));
  EXPECT_ERROR(load_image(zero), "[load_image]", zero);
  // The same error reaches a training loop through worker threads, naming the file.
  DataLoader l(std::make_shared<ImageFolder>(root), {.batch_size = 2, .shuffle = false, .seed = 1, .num_workers = 2});
  data_test::within(std::chrono::seconds(30), [&] {
    l.start_epoch(0);
    ASSERT_TRUE(l.next().has_value());
    EXPECT_ERROR(l.next(), junk, "cannot decode image", "sample 2");
  });
}
