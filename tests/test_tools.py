"""The tools on the user's files: formats round-trip through jieba, gensim and infomap; bad input
is one line naming the file and line, exit 2, and nothing half-written."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from kexue.cli import main
from kexue.data import peoples_daily


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """1,500 raw lines of People's Daily (the gold segmentation joined back)."""
    path = tmp_path_factory.mktemp("corpus") / "raw.txt"
    lines = ["".join(s.words) for s in peoples_daily().sentences[:1500]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    path = tmp_path_factory.mktemp("seg") / "segmented.txt"
    lines = [" ".join(s.words) for s in peoples_daily().sentences[:1500]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lexicon(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("lex") / "lexicon.txt"
    assert main(["words", str(corpus), "-o", str(out), "--min-count", "3", "--quiet"]) == 0
    return out


def test_words_writes_a_jieba_dictionary(lexicon):
    import jieba

    rows = [line.split(" ") for line in lexicon.read_text(encoding="utf-8").splitlines()]
    assert len(rows) > 300 and all(len(r) == 2 for r in rows)
    counts = [int(c) for _, c in rows]
    assert counts == sorted(counts, reverse=True)
    assert "中国" in {w for w, _ in rows}
    tokenizer = jieba.Tokenizer(dictionary=str(lexicon))  # jieba reads it as its main dictionary
    tokenizer.load_userdict(str(lexicon))  # and as a user dictionary
    assert "中国" in tokenizer.lcut("中国人民", HMM=False)


def test_segment_text_and_jsonl_offsets(lexicon, tmp_path, capsys):
    text = tmp_path / "new.txt"
    text.write_text("中国人民银行今天发布消息。\n\n经济发展很快\n", encoding="utf-8")
    assert main(["segment", "--lexicon", str(lexicon), str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "".join(lines[0].split()) == "中国人民银行今天发布消息。"
    assert main(["segment", "--lexicon", str(lexicon), "--format", "jsonl", str(text)]) == 0
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        for word, start, end in record["tokens"]:
            assert record["text"][start:end] == word
        assert "".join(w for w, _, _ in record["tokens"]) == record["text"]


def test_segment_with_a_scored_lexicon_applies_its_bonus_and_masked_numbers(tmp_path, capsys):
    """word-discovery's model file (`word count bonus`, numbers as <NUM>): the bonus changes
    the segmentation as in the library, and numbers are masked as when the model was learnt."""
    from kexue.text.segment import NUMBER, UnigramSegmenter, format_scored_lexicon

    lexicon = {"研究": 10.0, "研究生": 30.0, "生命": 8.0, "命": 8.0, "起源": 5.0, "<NUM>年": 3.0}
    text = tmp_path / "in.txt"
    text.write_text("1998年研究生命起源\n", encoding="utf-8")
    plain = tmp_path / "plain.txt"
    plain.write_text(format_scored_lexicon(lexicon, {}), encoding="utf-8")
    scored = tmp_path / "scored.txt"
    scored.write_text(format_scored_lexicon(lexicon, {"研究": 3.0, "生命": 3.0}), encoding="utf-8")
    outputs = []
    for model in (plain, scored):
        assert main(["segment", "--scored-lexicon", str(model), str(text)]) == 0
        outputs.append(capsys.readouterr().out.split())
    assert outputs[1] == ["1998年", "研究", "生命", "起源"]  # the bonus splits 研究生|命
    assert outputs[0] == ["1998年", "研究生", "命", "起源"]
    masked = {w.replace("<NUM>", NUMBER): c for w, c in lexicon.items()}
    library = UnigramSegmenter(word_bonus={"研究": 3.0, "生命": 3.0}).fit(masked)
    assert library.segment(f"{NUMBER}年研究生命起源")[1:] == outputs[1][1:]


def test_vectors_load_in_gensim(segmented, tmp_path):
    from gensim.models import KeyedVectors

    out = tmp_path / "vectors.txt"
    args = ["vectors", str(segmented), "-o", str(out), "--vocab-size", "200", "--dim", "8"]
    assert main([*args, "--epochs", "3", "--quiet"]) == 0
    kv = KeyedVectors.load_word2vec_format(str(out), binary=False)
    assert kv.vector_size == 8 and len(kv.index_to_key) == 200
    assert "的" in kv.key_to_index and np.isfinite(kv["的"]).all()


def test_templates_tsv(segmented, tmp_path):
    out = tmp_path / "templates.tsv"
    assert main(["templates", str(segmented), "-o", str(out), "--min-count", "5", "--quiet"]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "count\ttemplate" and len(rows) > 10
    counts = [int(r.split("\t")[0]) for r in rows[1:]]
    assert counts == sorted(counts, reverse=True) and any(" X" in r or "X " in r for r in rows)


def _karate(tmp_path):
    path = tmp_path / "karate.txt"
    path.write_text("".join(f"{u + 1} {v + 1}\n" for u, v in nx.karate_club_graph().edges()))
    return path


@pytest.mark.parametrize("suffix", ["clu", "tree"])
def test_communities_files_read_back_by_infomap(tmp_path, suffix, capsys):
    infomap = pytest.importorskip("infomap")
    graph = _karate(tmp_path)
    assert main(["communities", str(graph), "-o", str(tmp_path / "out"), "--trials", "5"]) == 0
    ours = float(capsys.readouterr().out.split("codelength ")[1].split()[0])
    im = infomap.Infomap(
        f"--two-level --silent --no-infomap --cluster-data {tmp_path / 'out' / f'karate.{suffix}'}"
    )
    im.read_file(str(graph))
    result = im.run()
    assert result.codelength == pytest.approx(ours, abs=1e-5)
    modules: dict[int, set[int]] = {}
    for line in (tmp_path / "out" / "karate.clu").read_text().splitlines():
        if not line.startswith("#"):
            node, module, _ = line.split()
            modules.setdefault(int(module), set()).add(int(node))
    theirs: dict[int, set[int]] = {}
    for node, module in im.get_modules().items():
        theirs.setdefault(module, set()).add(node)
    assert sorted(map(sorted, modules.values())) == sorted(map(sorted, theirs.values()))


def test_communities_reads_pajek_with_names(tmp_path, capsys):
    net = tmp_path / "g.net"
    net.write_text('*Vertices 4\n1 "a"\n2 "b"\n3 "c"\n4 "d"\n*Edges\n1 2 2\n2 3\n3 4 2\n1 4\n')
    assert main(["communities", str(net), "-o", str(tmp_path)]) == 0
    tree = (tmp_path / "g.tree").read_text()
    assert '"1"' in tree or '"a"' in tree


def test_hsic_on_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header="a,b", comments="")
    np.savetxt(tmp_path / "y.csv", x[:, :1] ** 2 + 0.1 * rng.standard_normal((200, 1)))
    assert main(["hsic", str(tmp_path / "x.csv"), str(tmp_path / "y.csv"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["n"] == 200 and record["pvalue"] < 0.01 and record["reject"]
    assert record["bandwidth_x"] > 0
    np.savetxt(tmp_path / "z.csv", rng.standard_normal((200, 1)))
    args = ["hsic", str(tmp_path / "x.csv"), str(tmp_path / "z.csv"), "--method", "gamma"]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pvalue"] > 0.01


def _bad(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("command", "name", "content", "message"),
    [
        ("words", "empty.txt", b"\n\n", "no text"),
        ("words", "binary.bin", b"abc\n\x00\x01\x02", "binary.bin:2: a NUL byte"),
        ("words", "gbk.txt", "第一行\n中文".encode("gb18030"), "gbk.txt:1: not utf-8 text"),
        ("words", "long.txt", b"a" * (10 * 2**20 + 5), "long.txt:1: line of over"),
        ("communities", "bad_weight.txt", b"1 2 1\n2 3 x\n", "bad_weight.txt:2: weight 'x'"),
        ("communities", "one_column.txt", b"1 2\n3\n", "one_column.txt:2: an edge needs two"),
        ("communities", "negative.txt", b"1 2 -1\n", "negative.txt:1: weight must be"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    tmp_path, capsys, command, name, content, message
):
    path = _bad(tmp_path, name, content)
    out = tmp_path / "out"
    code = main([command, str(path), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_gb18030_with_encoding(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(("中国人民\n" * 50).encode("gb18030"))
    out = tmp_path / "lex.txt"
    assert main(["words", str(path), "-o", str(out), "--encoding", "gb18030", "--quiet"]) == 0
    assert out.read_text(encoding="utf-8").strip()


def test_graph_with_self_loops_isolated_nodes_and_a_single_node(tmp_path, capsys):
    g = _bad(tmp_path, "loops.txt", b"1 1\n1 2\n2 3\n3 1\n4 5\n5 6\n6 4\n7 7\n")
    assert main(["communities", str(g), "-o", str(tmp_path / "a")]) == 0
    one = _bad(tmp_path, "single.txt", b"1 1\n")
    assert main(["communities", str(one), "-o", str(tmp_path / "b")]) == 0
    assert "1 top modules" in capsys.readouterr().out


def test_words_on_a_local_dask_cluster_equals_one_process(corpus, lexicon, tmp_path):
    out = tmp_path / "dask.txt"
    args = ["words", str(corpus), "-o", str(out), "--min-count", "3", "--quiet"]
    assert main([*args, "--workers", "2"]) == 0
    assert out.read_text(encoding="utf-8") == lexicon.read_text(encoding="utf-8")


def test_hierarchical_tree_read_back_by_infomap(tmp_path, capsys):
    infomap = pytest.importorskip("infomap")
    sizes = [25] * 16  # 4 groups of 4 blocks of 25: a planted two-level hierarchy
    probs = [
        [0.5 if i == j else 0.06 if i // 4 == j // 4 else 0.002 for j in range(16)]
        for i in range(16)
    ]
    g = nx.stochastic_block_model(sizes, probs, seed=3)
    path = tmp_path / "sbm.txt"
    path.write_text("".join(f"{u + 1} {v + 1}\n" for u, v in g.edges()))
    out = tmp_path / "out"
    assert main(["communities", str(path), "-o", str(out), "--hierarchical", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    ours = float(printed.split("codelength ")[1].split()[0])
    assert "3 levels" in printed and "4 top modules" in printed
    im = infomap.Infomap(f"--silent --no-infomap --cluster-data {out / 'sbm.tree'}")
    im.read_file(str(path))
    result = im.run()
    assert result.codelength == pytest.approx(ours, abs=1e-5)
    assert im.num_levels == 3 and im.num_top_modules == 4


def test_generate_couplet_from_the_run_folder_alone(tmp_path, capsys):
    run = tmp_path / "couplet"
    assert main(["run", "couplet", "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--input", "春回大地千山秀"]) == 0
    second = capsys.readouterr().out.strip()
    assert len(second) == 7 and all(a != b for a, b in zip(second, "春回大地千山秀", strict=True))
    lines = tmp_path / "firsts.txt"
    lines.write_text("海阔凭鱼跃\n天高任鸟飞\n", encoding="utf-8")
    assert main(["generate", str(run), str(lines), "--format", "jsonl"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in records] == ["海阔凭鱼跃", "天高任鸟飞"]
    assert all(len(r["output"]) == 5 for r in records)


def test_generate_names_what_it_cannot_read(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "--input", "x"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    run = tmp_path / "wgan"
    assert main(["run", "wgan", "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["generate", str(run), "--input", "x"]) == 2
    err = capsys.readouterr().err
    assert "generate reads runs of bidirectional-decoding, conditional-ln, couplet" in err


@pytest.mark.parametrize("slug", ["seq2seq-title", "bidirectional-decoding"])
def test_generate_titles_from_a_title_run(tmp_path, capsys, slug):
    run = tmp_path / "titles"
    assert main(["run", slug, "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    abstract = "本文提出一种基于深度学习的中文文本摘要方法，实验表明该方法有效。"
    assert main(["generate", str(run), "--input", abstract, "--format", "jsonl"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["input"] == abstract and isinstance(record["output"], str)
    assert (
        main(["generate", str(run), "--input", abstract, "--beam-size", "1", "--max-len", "3"])
        == 0
    )
    assert len(capsys.readouterr().out.strip()) <= 3
    assert main(["generate", str(run), "--input", abstract, "--beam-size", "0"]) == 2


def test_generate_reviews_for_a_label_from_a_conditional_ln_run(tmp_path, capsys):
    run = tmp_path / "cln"
    assert main(["run", "conditional-ln", "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    labels = tmp_path / "labels.txt"
    labels.write_text("1\n0\n", encoding="utf-8")
    assert main(["generate", str(run), str(labels), "--top-p", "0.9", "--format", "jsonl"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in records] == ["1", "0"]
    assert all(isinstance(r["output"], str) and len(r["output"]) <= 17 for r in records)
    assert main(["generate", str(run), "--input", "positive"]) == 2
    assert "a label, 0 (negative) or 1" in capsys.readouterr().err
    assert main(["generate", str(run), "--input", "1", "--top-p", "1.5"]) == 2


@pytest.mark.parametrize("slug", ["nice", "glow"])
def test_sample_a_grid_from_a_flow_run(tmp_path, capsys, slug):
    from PIL import Image

    run = tmp_path / slug
    assert main(["run", slug, "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    grid = tmp_path / "grid.png"
    args = ["sample", str(run), "-n", "12", "--temperature", "0.7", "--out", str(grid)]
    assert main(args) == 0
    assert "12 samples of 8×8" in capsys.readouterr().out
    with Image.open(grid) as im:
        assert im.size[0] > 50 and im.size[1] > 30
    assert main(["sample", str(run), "--temperature", "0", "--out", str(grid)]) == 2


def test_sample_refuses_a_run_without_a_sampler(tmp_path, capsys):
    run = tmp_path / "dynamics-sgd"
    assert main(["run", "dynamics-sgd", "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run)]) == 2
    err = capsys.readouterr().err
    assert "a dynamics-sgd run; this command reads runs of " in err and "glow" in err


def test_reconstruct_refuses_runs_without_a_reconstructor(tmp_path, capsys):
    run = tmp_path / "dynamics-sgd"
    assert main(["run", "dynamics-sgd", "--budget", "smoke", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["reconstruct", str(run), "x.png"]) == 2
    assert "a dynamics-sgd run; this command reads runs of" in capsys.readouterr().err
    assert main(["reconstruct", str(tmp_path / "nowhere"), "x.png"]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_image_grid_tiles_images_in_order():
    import io

    from PIL import Image

    from kexue.data import grid_png, to_unit

    images = np.zeros((5, 4, 6, 3))
    images[3] = 1.0  # the fourth image white: second row, first column with nrow=3
    with Image.open(io.BytesIO(grid_png(images, nrow=3, pad=1))) as im:
        px = np.asarray(im)
    assert px.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    assert (px[6:10, 1:7] == 255).all() and (px[1:5, 1:7] == 0).all()
    assert to_unit(np.full((1, 3, 2, 2), 255, np.uint8)).shape == (1, 2, 2, 3)
    assert np.allclose(to_unit(np.full((1, 1, 2, 2), -1.0)), 0.0)
