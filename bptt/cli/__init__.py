"""`python -m bptt train`: the dashboard's training run, from a terminal.

The flags come from RunConfig's field metadata, as the URL and the widgets do (bptt/cli/flags.py).
Progress goes to stderr; the last line on stdout is one JSON object (perplexity, tokens_per_sec, tokens,
seconds, prediction, ...), so a script can read the result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from ..config import ConfigError, RunConfig
from ..corpora import TIME_MACHINE_SHA1, decode_upload, load_corpus
from ..data import CorpusError, make_corpus
from ..i18n import _
from ..training import Trainer
from ..truncation import GRAMMAR, Strategy
from .flags import add_setting_flags, setting_values
from .lab import add_gradlab_parser, gradlab_command

MAX_FILE_BYTES = 50_000_000  # a local corpus file; the dashboard's uploads are capped far lower


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bptt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help=_("train a char-RNN with one truncation strategy (d2l §8.5, §8.7)"))
    add_setting_flags(train, "train", RunConfig(), _("time_machine, bundled, or a path to a UTF-8 text file"))
    train.add_argument("--metrics", type=Path, help=_("write the per-step metrics to this CSV file"))
    train.add_argument("--prefix", default="time traveller", help=_("prefix for the prediction"))
    record_help = _(
        "write a recording of the run to this .npz file (a replay for the training page: every chart's "
        "records, the texts, the settings)"
    )
    train.add_argument("--record", type=Path, help=record_help)
    train.add_argument("--quiet", action="store_true", help=_("no progress on stderr"))
    add_compare_parser(sub)
    add_gradlab_parser(sub)
    return parser


def add_compare_parser(sub) -> None:
    """`python -m bptt compare`: several strategies over several seeds, written to a results file."""
    cmp = sub.add_parser("compare", help=_("compare truncation strategies over seeds (mean, band, verdict)"))
    corpus_help = _("time_machine, bundled, or a path to a UTF-8 text file (ignored with --task synthetic)")
    add_setting_flags(cmp, "compare", RunConfig(), corpus_help)
    cmp.add_argument("--task", choices=("text", "synthetic"), default="text",
                     help=_("text: the corpus; synthetic: delayed recall"))  # fmt: skip
    cmp.add_argument("--d", type=int, default=10, help=_("synthetic: the dependency length d"))
    cmp.add_argument("--strategies", nargs="+", default=["full", "regular:5", "randomized:0.9"],
                     help=GRAMMAR)  # fmt: skip
    cmp.add_argument(
        "--seeds", nargs="+", type=int, default=[0, 1, 2], help=_("one run per seed and strategy")
    )
    cmp.add_argument("--budget", choices=("epochs", "seconds"), default="epochs",
                     help=_("each run's budget: --epochs epochs, or --seconds of training"))  # fmt: skip
    cmp.add_argument(
        "--seconds", type=float, default=20.0, help=_("training seconds per run (--budget seconds)")
    )
    cmp.add_argument(
        "--out", type=Path, required=True, help=_("results JSON (a CSV of the curves beside it)")
    )
    cmp.add_argument("--quiet", action="store_true", help=_("no progress on stderr"))


def compare(args: argparse.Namespace) -> int:
    from ..compare.results import results, write_results
    from ..compare.runner import Comparison, Spec
    from ..compare.stats import summary, verdict

    values = setting_values(args, "compare")
    corpus_arg = args.corpus
    try:
        base = RunConfig(corpus=corpus_field(corpus_arg), **values)
        spec = Spec(base=base, strategies=tuple(args.strategies), seeds=tuple(args.seeds), task=args.task,
                    d=args.d, budget=args.budget, seconds=args.seconds)  # fmt: skip
        corpus = None if args.task == "synthetic" else load(base, corpus_arg)
        comparison = Comparison(spec, corpus)
    except (ConfigError, CorpusError, OSError, ValueError) as e:
        print(_("error: {error}").format(error=e), file=sys.stderr)
        return 2
    log = sys.stderr
    if not args.quiet:
        print(_("corpus: {name}, {tokens:,} tokens; {runs} runs").format(
              name=comparison.corpus.name, tokens=len(comparison.corpus), runs=len(comparison.order)),
              file=log)  # fmt: skip
    last = [-1]

    def progress(c) -> None:
        if not args.quiet and c.index != last[0]:
            last[0] = c.index
            for r in c.finished[len(c.finished) - 1 :]:
                value = r.points[-1][c.spec.metric] if r.points else float("nan")
                print(_("{strategy:>18} seed {seed}: {status}, {metric} {value:.4f}, {seconds:.1f} s").format(
                      strategy=r.strategy, seed=r.seed, status=r.trainer.status, metric=c.spec.metric,
                      value=value, seconds=r.trainer.wall_time), file=log)  # fmt: skip

    comparison.run(progress)
    progress(comparison)
    data = results(comparison, corpus_name=comparison.corpus.name)
    write_results(data, args.out)
    runs = comparison.runs()
    print(summary(runs, spec.metric).to_string(index=False), file=log)
    for sentence in verdict(runs, spec.metric):
        print(sentence, file=log)
    print(json.dumps({"out": str(args.out), "summary": data["summary"]}))
    return 0


def load(cfg: RunConfig, corpus_arg: str):
    """The corpus the flag names: a built-in one, or a text file prepared as the book prepares its own."""
    if corpus_arg in ("time_machine", "bundled"):
        return load_corpus(
            corpus_arg, tokenizer=cfg.tokenizer, max_tokens=cfg.max_tokens, max_vocab=cfg.max_vocab
        )
    path = Path(corpus_arg)
    data = path.read_bytes()
    text = decode_upload(data, max_bytes=MAX_FILE_BYTES)
    # A local copy of the book's file (its SHA-1 verified, as d2l.download verifies it) is The Time
    # Machine, and is named so in the results, not by its file name.
    name = "The Time Machine" if is_time_machine(data) else path.name
    return make_corpus(
        text, name, tokenizer=cfg.tokenizer, max_tokens=cfg.max_tokens, max_vocab=cfg.max_vocab
    )


def is_time_machine(data: bytes) -> bool:
    return hashlib.sha1(data).hexdigest() == TIME_MACHINE_SHA1


def corpus_field(corpus_arg: str) -> str:
    """The RunConfig corpus for the --corpus flag: a built-in name, 'time_machine' for a verified local
    copy of the book's file, else 'upload' (a text file of the user's)."""
    if corpus_arg in ("time_machine", "bundled"):
        return corpus_arg
    try:
        return "time_machine" if is_time_machine(Path(corpus_arg).read_bytes()) else "upload"
    except OSError:
        return "upload"


def train(args: argparse.Namespace) -> int:
    values = setting_values(args, "train")
    corpus_arg = args.corpus
    try:
        cfg = RunConfig(
            corpus="upload" if corpus_arg not in ("time_machine", "bundled") else corpus_arg, **values
        )
        corpus = load(cfg, corpus_arg)
        trainer = Trainer(cfg, corpus)
    except (ConfigError, CorpusError, OSError) as e:
        print(_("error: {error}").format(error=e), file=sys.stderr)
        return 2
    if corpus.notice:
        print(_("notice: {notice}").format(notice=corpus.notice), file=sys.stderr)
    log = sys.stderr
    print(
        _(
            "corpus: {name}, {tokens:,} tokens, vocabulary {vocab}; "
            "truncation: {truncation}; device: {device}"
        ).format(
            name=corpus.name,
            tokens=len(corpus),
            vocab=len(corpus.vocab),
            truncation=Strategy.of_config(cfg).title(),
            device=trainer.device,
        ),  # fmt: skip
        file=log,
    )
    start = time.perf_counter()
    every = max(1, cfg.epochs // 50)  # about 50 progress lines per run

    def report() -> None:
        if not args.quiet:
            tps = trainer.tokens / trainer.wall_time if trainer.wall_time else 0.0
            line = _("epoch {epoch:4d}/{epochs}  perplexity {ppl:8.3f}  {tps:9,.0f} tokens/s")
            print(
                line.format(epoch=trainer.epoch, epochs=cfg.epochs, ppl=trainer.perplexity(), tps=tps),
                file=log,
            )

    recorder = None
    if args.record:
        from ..hosting.recordings import Recorder

        recorder = Recorder(trainer, args.prefix)

    def progress(rec: dict) -> None:
        if recorder is not None:
            recorder(rec)
        if trainer.batch_in_epoch == 1 and trainer.epoch % every == 0 and trainer.epoch > 0:
            report()  # the first step of an epoch: the previous epoch's perplexity is final

    trainer.run(progress)
    report()
    seconds = time.perf_counter() - start
    if args.metrics:
        trainer.history.frame().to_csv(args.metrics, index=False)
    if recorder is not None:
        from ..hosting.recordings import write_recording

        recorder.finish()
        builtin = corpus_arg in ("time_machine", "bundled")
        label = corpus_arg if builtin else Path(corpus_arg).name
        size = write_recording(args.record, trainer, recorder, corpus_label=label)
        if not args.quiet:
            print(_("recording: {path}, {size:,} bytes").format(path=args.record, size=size), file=log)
    result = {
        "status": trainer.status,
        "message": trainer.message,
        "perplexity": trainer.perplexity(),
        "tokens_per_sec": trainer.tokens / trainer.wall_time if trainer.wall_time else 0.0,
        "tokens": trainer.tokens,
        "steps": trainer.step_count,
        "seconds": seconds,
        "prediction": trainer.predict(args.prefix, 50),
        "corpus": corpus.name,
        "config": cfg.to_dict(),
    }
    if trainer.status == "diverged":
        print(_("error: {error}").format(error=trainer.message), file=log)
    print(json.dumps(result))
    return 0 if trainer.status == "finished" else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compare":
        return compare(args)
    if args.command == "gradlab":
        return gradlab_command(args)
    return train(args)
