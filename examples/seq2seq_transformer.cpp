// Sequence-to-sequence with nn::Transformer: learns to reverse (or sort) a sequence of 3 to 10
// digit tokens, a task that needs attention (output position t must find input position L-1-t,
// or the t-th smallest digit). Source and target tokens share an Embedding (unscaled) plus
// sinusoidal position encodings; the Transformer (d_model 64, 4 heads, 2 encoder and 2 decoder
// layers, feed-forward 128, batch_first) is trained with teacher forcing (Adam, one-cycle lr
// schedule): the decoder reads BOS + target, a causal tgt_mask keeps it from peeking ahead, and key
// padding masks hide the padding of shorter sequences. A Linear head gives next-token logits;
// cross-entropy ignores padding. After each epoch, held-out sequences (none of them in the training
// set) are decoded greedily, one token at a time until EOS, and the exact-sequence and per-token
// accuracies are reported.
//
//   seq2seq_transformer [--task reverse|sort] [--epochs N] [--seed S] [--threads T] [--lr X]
//                       [--batch-size B] [--train-size N] [--test-size N] [--min-len L] [--max-len L]
//                       [--d-model D] [--smoke]
// --smoke trains on short sequences for a few seconds, for the test suite.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "example_args.h"
#include "nabla/nabla.h"
#include "nabla/nn.h"
#include "nabla/optim.h"

using namespace nabla;

namespace {

struct Args {
  std::string task = "reverse";
  int epochs = 10;
  uint64_t seed = 0;
  // One thread by default: the matrices are small (64 x 128), so a second thread buys little on a
  // busy 2-core machine (see sequence_lstm).
  int threads = 1;
  double lr = 2e-3;
  int64_t batch = 64;
  int64_t train_size = 20000;
  int64_t test_size = 1000;
  int64_t min_len = 3;
  int64_t max_len = 10;
  int64_t d_model = 64;
  bool smoke = false;
};

Args parse(int argc, char** argv) {
  Args a;
  examples::ArgParser p("seq2seq_transformer",
                        "Trains an nn::Transformer to reverse or sort digit sequences, reports greedy-decoding accuracy.");
  p.option("--task", &a.task, "reverse or sort")
      .option("--epochs", &a.epochs, "training epochs")
      .option("--seed", &a.seed, "seed of the data, the init and dropout")
      .option("--threads", &a.threads, "CPU threads")
      .option("--lr", &a.lr, "peak learning rate (one-cycle schedule)")
      .option("--batch-size", &a.batch, "sequences per step")
      .option("--train-size", &a.train_size, "training sequences")
      .option("--test-size", &a.test_size, "held-out sequences")
      .option("--min-len", &a.min_len, "shortest sequence")
      .option("--max-len", &a.max_len, "longest sequence")
      .option("--d-model", &a.d_model, "model width (4 heads)")
      .flag("--smoke", &a.smoke, "a few seconds' run: 2 epochs of 2048 sequences of 3 to 5 digits");
  p.parse(argc, argv);
  if (a.smoke) a.epochs = 2, a.train_size = 2048, a.test_size = 256, a.min_len = 3, a.max_len = 5;
  if (a.task != "reverse" && a.task != "sort") throw Error("--task must be reverse or sort, got " + a.task);
  if (a.epochs < 1 || a.batch < 1 || a.train_size < a.batch || a.test_size < 1 || a.min_len < 1 ||
      a.max_len < a.min_len || a.d_model < 4 || a.d_model % 4 != 0)
    throw Error("need epochs >= 1, train-size >= batch-size >= 1, test-size >= 1, 1 <= min-len <= max-len and "
                "d-model a positive multiple of 4");
  return a;
}

// Tokens: digits 0-9, then padding, begin- and end-of-sequence.
constexpr int64_t kPad = 10, kBos = 11, kEos = 12, kVocab = 13;
constexpr int64_t kIgnore = -100;  // cross_entropy's ignore_index: padded target positions

using Seq = std::vector<int64_t>;

Seq target_of(const Seq& src, const std::string& task) {
  Seq t = src;
  if (task == "reverse") std::reverse(t.begin(), t.end());
  else std::sort(t.begin(), t.end());
  return t;
}

/// `n` distinct random digit sequences of min_len..max_len tokens, none of them in `exclude`.
std::vector<Seq> make_sequences(int64_t n, const Args& a, std::mt19937_64& rng, const std::set<Seq>& exclude) {
  std::uniform_int_distribution<int64_t> len(a.min_len, a.max_len), digit(0, 9);
  std::set<Seq> seen;
  std::vector<Seq> out;
  for (int64_t tries = 0; int64_t(out.size()) < n && tries < 100 * n; ++tries) {
    Seq s(size_t(len(rng)));
    for (auto& d : s) d = digit(rng);
    if (exclude.count(s) || !seen.insert(s).second) continue;
    out.push_back(std::move(s));
  }
  if (int64_t(out.size()) < n)
    throw Error("cannot draw " + std::to_string(n) + " distinct sequences of these lengths: lower the sizes");
  return out;
}

/// A batch as tensors: src [B, max_len] (padded), decoder input BOS + target [B, max_len + 1]
/// (padded), labels target + EOS [B, max_len + 1] (kIgnore where padded) and the u8 padding masks.
struct Batch {
  Tensor src, tgt_in, labels, src_pad, tgt_pad;
};

Batch make_batch(const std::vector<Seq>& seqs, size_t begin, size_t end, const Args& a) {
  const int64_t B = int64_t(end - begin), S = a.max_len, T = a.max_len + 1;
  std::vector<int64_t> src(size_t(B * S), kPad), tin(size_t(B * T), kPad), lab(size_t(B * T), kIgnore);
  std::vector<uint8_t> spad(size_t(B * S), 1), tpad(size_t(B * T), 1);
  for (int64_t b = 0; b < B; ++b) {
    const Seq& s = seqs[begin + size_t(b)];
    const Seq t = target_of(s, a.task);
    const int64_t L = int64_t(s.size());
    for (int64_t i = 0; i < L; ++i) src[size_t(b * S + i)] = s[size_t(i)], spad[size_t(b * S + i)] = 0;
    for (int64_t i = 0; i <= L; ++i) {
      tin[size_t(b * T + i)] = i == 0 ? kBos : t[size_t(i - 1)];
      lab[size_t(b * T + i)] = i < L ? t[size_t(i)] : kEos;
      tpad[size_t(b * T + i)] = 0;
    }
  }
  return {from_vector<int64_t>(src, {B, S}), from_vector<int64_t>(tin, {B, T}), from_vector<int64_t>(lab, {B, T}),
          from_vector<uint8_t>(spad, {B, S}), from_vector<uint8_t>(tpad, {B, T})};
}

/// Sinusoidal position encodings (Vaswani et al.): pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(...).
Tensor position_encoding(int64_t positions, int64_t d) {
  std::vector<float> pe(size_t(positions * d));
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < d; i += 2) {
      const double angle = double(p) / std::pow(10000.0, double(i) / double(d));
      pe[size_t(p * d + i)] = float(std::sin(angle));
      if (i + 1 < d) pe[size_t(p * d + i + 1)] = float(std::cos(angle));
    }
  return from_vector<float>(pe, {positions, d});
}

struct Seq2Seq : nn::Module {
  std::shared_ptr<nn::Embedding> embed;  // shared by source and target tokens
  Tensor pos;                            // [positions, d_model] buffer
  std::shared_ptr<nn::Transformer> transformer;
  std::shared_ptr<nn::Linear> generator;

  Seq2Seq(int64_t d_model, int64_t positions) : Module("Seq2Seq") {
    embed = register_module("embed", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(kVocab, d_model).padding_idx(kPad)));
    pos = register_buffer("pos", position_encoding(positions, d_model), /*persistent=*/false);
    transformer = register_module("transformer", std::make_shared<nn::Transformer>(nn::TransformerOptions(d_model, 4)
                                                                                        .num_encoder_layers(2)
                                                                                        .num_decoder_layers(2)
                                                                                        .dim_feedforward(2 * d_model)
                                                                                        .dropout(0.1)
                                                                                        .batch_first(true)));
    generator = register_module("generator", std::make_shared<nn::Linear>(d_model, kVocab));
  }

  /// tokens [B, L] -> [B, L, d_model]. Unscaled: the N(0, 1) embeddings and the sinusoids are of
  /// one size, so position (all that reversing needs) is not drowned by token identity.
  Tensor embed_tokens(const Tensor& tokens) { return (*embed)(tokens) + pos.slice(0, 0, tokens.size(1)); }

  Tensor encode(const Tensor& src, const Tensor& src_pad) {
    return transformer->encode(embed_tokens(src), {}, src_pad);
  }
  /// Next-token logits [B, T, vocab] for decoder input tgt_in [B, T].
  Tensor decode(const Tensor& tgt_in, const Tensor& memory, const Tensor& src_pad, const Tensor& tgt_pad = {}) {
    const int64_t T = tgt_in.size(1);
    Tensor h = transformer->decode(embed_tokens(tgt_in), memory,
                                   {.tgt_mask = nn::Transformer::generate_square_subsequent_mask(T),
                                    .tgt_key_padding_mask = tgt_pad,
                                    .memory_key_padding_mask = src_pad,
                                    .tgt_is_causal = true});
    return (*generator)(h);
  }
  Tensor forward(const Tensor&) override { fail("use encode() and decode()"); }
};

struct Scores {
  double exact = 0, token = 0;
};

/// Greedy decoding of `seqs` (batches of 256): encode once, then append the most likely token
/// until every sequence has produced EOS or max_len + 1 tokens. Exact: the whole output (up to EOS)
/// is the target; token: share of target positions (EOS included) predicted right.
Scores evaluate(Seq2Seq& m, const std::vector<Seq>& seqs, const Args& a) {
  NoGradGuard ng;
  m.eval();
  int64_t exact = 0, tokens_right = 0, tokens = 0;
  for (size_t b0 = 0; b0 < seqs.size(); b0 += 256) {
    const size_t b1 = std::min(seqs.size(), b0 + 256);
    Batch batch = make_batch(seqs, b0, b1, a);
    const int64_t B = int64_t(b1 - b0);
    Tensor memory = m.encode(batch.src, batch.src_pad);
    Tensor ys = full({B, 1}, double(kBos), {.dtype = DType::i64});
    std::vector<uint8_t> done(size_t(B), 0);
    for (int64_t step = 0; step <= a.max_len; ++step) {
      Tensor logits = m.decode(ys, memory, batch.src_pad);
      Tensor next = argmax(logits.select(1, step), 1).reshape({B, 1});
      ys = cat({ys, next}, 1);
      std::vector<double> nv = next.to_double_vector();
      for (int64_t b = 0; b < B; ++b) done[size_t(b)] |= nv[size_t(b)] == double(kEos);
      if (std::all_of(done.begin(), done.end(), [](uint8_t d) { return d != 0; })) break;
    }
    std::vector<double> out = ys.to_double_vector();
    const int64_t W = ys.size(1);
    for (int64_t b = 0; b < B; ++b) {
      Seq want = target_of(seqs[b0 + size_t(b)], a.task);
      want.push_back(kEos);
      bool all = true;
      for (size_t t = 0; t < want.size(); ++t) {
        const bool ok = int64_t(t) + 1 < W && out[size_t(b * W + int64_t(t) + 1)] == double(want[t]);
        tokens_right += ok;
        all = all && ok;
      }
      tokens += int64_t(want.size());
      exact += all;  // every target token and the EOS right: nothing extra can follow
    }
  }
  m.train();
  return {double(exact) / double(seqs.size()), double(tokens_right) / double(tokens)};
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  set_num_threads(args.threads);
  manual_seed(args.seed);
  std::mt19937_64 rng(args.seed);
  const std::vector<Seq> test = make_sequences(args.test_size, args, rng, {});
  std::vector<Seq> train = make_sequences(args.train_size, args, rng, std::set<Seq>(test.begin(), test.end()));

  Seq2Seq model(args.d_model, args.max_len + 2);
  std::printf("task: %s %lld-%lld digits; data: %zu train, %zu held-out sequences; model: %lld parameters\n",
              args.task.c_str(), (long long)args.min_len, (long long)args.max_len, train.size(), test.size(),
              (long long)model.num_parameters());
  optim::Adam opt(model.parameters(), optim::AdamOptions(args.lr));
  // One cycle over the whole run: a warm-up (Transformers train badly at full lr from the start)
  // and a cosine decay that lets the last epochs settle.
  const int64_t steps_per_epoch = args.train_size / args.batch;
  optim::OneCycleLR schedule(opt, args.lr, {.total_steps = args.epochs * steps_per_epoch, .pct_start = 0.2});

  Scores s;
  double epoch_secs = 0, total_secs = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto e0 = std::chrono::steady_clock::now();
    std::shuffle(train.begin(), train.end(), rng);
    double loss_sum = 0;
    int64_t batches = 0;
    for (size_t i = 0; i + size_t(args.batch) <= train.size(); i += size_t(args.batch)) {
      Batch b = make_batch(train, i, i + size_t(args.batch), args);
      Tensor memory = model.encode(b.src, b.src_pad);
      Tensor logits = model.decode(b.tgt_in, memory, b.src_pad, b.tgt_pad);
      Tensor loss = cross_entropy(logits.reshape({-1, kVocab}), b.labels.reshape({-1}), {.ignore_index = kIgnore});
      opt.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(model.parameters(), 1.0);
      opt.step();
      schedule.step();
      loss_sum += loss.item();
      ++batches;
    }
    epoch_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
    total_secs += epoch_secs;
    s = evaluate(model, test, args);
    std::printf("epoch %d  train loss %.4f  held-out exact %.4f  token %.4f  (%.1f s training)\n", epoch,
                loss_sum / double(std::max<int64_t>(batches, 1)), s.exact, s.token, epoch_secs);
    std::fflush(stdout);
  }
  std::printf("{\"task\": \"%s\", \"exact_accuracy\": %.4f, \"token_accuracy\": %.4f, \"epochs\": %d, "
              "\"seconds_per_epoch\": %.1f, \"threads\": %d}\n",
              args.task.c_str(), s.exact, s.token, args.epochs, total_secs / args.epochs, args.threads);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "seq2seq_transformer: %s\n", e.what());
  return 1;
}
