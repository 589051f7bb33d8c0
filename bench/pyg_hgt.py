"""The PyTorch Geometric reference of `make bench`: HGT (`HGTConv`) trained on
a Tessera graph directory with the recipe of Tessera's bench job, so that the
two sides do the same work.

* The same graph: every relation of the graph (its CSR files) in both
  directions, as Tessera's message graph has them (`rev_<name>`).
* The same model: a 64-wide id embedding per node (normal, std 0.1, as the
  parameter servers initialise rows), `layers` `HGTConv`s with `heads` heads,
  V, A, W_ATT and W_MSG started at the identity (`init = "identity"`).
  Node types without incoming edges keep their input, as in Tessera.
* The same batches: `LinkNeighborLoader` over every user-item behaviour edge,
  `batch` positives per step, `negatives` uniform negative items per positive
  (triplet negative sampling), and the fan-outs per edge type per hop
  (Tessera: `sampler.per_relation = true`). The last layer runs on the
  edges into the seeds only, as Tessera's blocks do.
* The same loss: cosine / temperature scores, the sampled softmax of every
  positive against the batch's pool (its positives and negatives) with the
  logQ correction and the row's own item masked elsewhere in the pool.
* The same optimisers: Adagrad (lr, L2 on the rows a step touches) on the
  embeddings, Adam on the dense weights.
* The same validation: full-graph inference, every validation user's NDCG@10
  and Recall@20 over all items, training items left out.

Writes a JSON object: throughput (positive edges/s over the timed steps),
the time split, and the validation curve (training seconds, NDCG@10).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BEHAVIORS = ["click", "cart", "fav", "buy"]


def read_array(graph_dir, manifest, name, dtype):
    """One of the graph's raw arrays, checked against the manifest's size."""
    path = os.path.join(graph_dir, name)
    want = manifest["files"][name]["bytes"]
    got = os.path.getsize(path)
    if got != want:
        raise SystemExit(f"{path}: {got} bytes, the manifest says {want}")
    return np.fromfile(path, dtype=dtype)


def load_graph(graph_dir):
    """HeteroData of the graph, the positive (user, item) pairs, the item
    popularity and the validation pairs."""
    from torch_geometric.data import HeteroData

    manifest = json.load(open(os.path.join(graph_dir, "manifest.json")))
    data = HeteroData()
    counts = {}
    for info in manifest["node_types"]:
        t = info["node_type"]
        counts[t] = int(info["count"])
        data[t].num_nodes = counts[t]
    positives = []
    for rel in manifest["relations"]:
        spec = rel["spec"]
        name, src, dst = spec["name"], spec["src"], spec["dst"]
        prefix = f"rel.{name}.csr"
        indptr = read_array(graph_dir, manifest, f"{prefix}.indptr.u64", np.uint64).astype(np.int64)
        indices = read_array(graph_dir, manifest, f"{prefix}.indices.u32", np.uint32).astype(np.int64)
        rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
        edges = torch.from_numpy(np.stack([rows, indices]))
        data[src, name, dst].edge_index = edges
        data[dst, f"rev_{name}", src].edge_index = edges.flip(0).contiguous()
        if name in BEHAVIORS and src == "user" and dst == "item":
            positives.append(edges)
    positives = torch.cat(positives, dim=1)
    popularity = torch.bincount(positives[1], minlength=counts["item"]).float()
    valid = read_array(graph_dir, manifest, "split.valid.u32", np.uint32).astype(np.int64).reshape(-1, 2)
    return data, counts, positives, popularity, torch.from_numpy(valid)


class Hgt(nn.Module):
    def __init__(self, counts, metadata, dim, heads, layers, identity):
        from torch_geometric.nn import HGTConv

        super().__init__()
        self.emb = nn.ModuleDict({t: nn.Embedding(n, dim, sparse=True) for t, n in counts.items()})
        for e in self.emb.values():
            nn.init.normal_(e.weight, std=0.1)
        self.convs = nn.ModuleList([HGTConv(dim, dim, metadata, heads=heads) for _ in range(layers)])
        if identity:
            with torch.no_grad():
                for conv in self.convs:
                    eye = torch.eye(dim)
                    for lin in conv.kqv_lin.lins.values():
                        lin.weight[2 * dim:].copy_(eye)
                        lin.bias[2 * dim:].zero_()
                    for lin in conv.out_lin.lins.values():
                        lin.weight.copy_(eye)
                        lin.bias.zero_()
                    d = dim // heads
                    for rel in (conv.k_rel, conv.v_rel):
                        rel.weight.copy_(torch.eye(d).expand_as(rel.weight))

    def dense_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("emb.")]

    def forward(self, x, edge_index_dict, seeds=None):
        """With `seeds` (the number of seed nodes per type, which the loader
        puts first), the last layer keeps only the edges into the seeds: the
        only outputs the loss reads (Tessera's blocks do the same; PyG's
        `trim_to_layer` needs pyg-lib's per-hop counts, which torch-sparse's
        sampler does not give)."""
        for layer, conv in enumerate(self.convs):
            if seeds is not None and layer == len(self.convs) - 1:
                edge_index_dict = {e: ei[:, ei[1] < seeds[e[2]]] for e, ei in edge_index_dict.items()}
            out = conv(x, edge_index_dict)
            x = {t: (out[t] if out.get(t) is not None else v) for t, v in x.items()}
        return x


def patch_hetero_linear():
    """HGTConv's per-relation matrices are a `HeteroLinear`. Without pyg-lib
    (no PyPI release) it runs `forward_naive`, which writes each type's rows
    into a slice of one output: every slice's backward then builds a zero
    tensor of the whole output (PyG's profile on tmall_mb: `copy_` and
    `fill_` from `SliceBackward0`/`CopySlices`, over half its step). This
    replaces it with the same products concatenated, what pyg-lib's
    `segment_matmul` computes, so that the comparison can also be made
    against PyG as fast as pyg-lib would make it."""
    from torch_geometric.nn.dense.linear import HeteroLinear

    def forward_cat(self, x, type_ptr):
        sizes = type_ptr.diff().tolist()
        return torch.cat([part @ self.weight[i] for i, part in enumerate(torch.split(x, sizes))])

    HeteroLinear.forward_naive = forward_cat


def scoring(x, temperature):
    return F.normalize(x, dim=-1) / math.sqrt(temperature)


def softmax_loss(u, pos, neg, pos_ids, neg_ids, log_pop, num_items):
    """Tessera's sampled softmax: each user against the pool of the batch's
    positives and negatives, logQ-corrected, its own item masked elsewhere."""
    b, n = pos.size(0), neg.size(0)
    pool = torch.cat([pos, neg], 0)
    logits = u @ pool.t()
    log_q = torch.cat([math.log(b) + log_pop[pos_ids], torch.full((n,), math.log(n) - math.log(num_items))])
    mask = pos_ids.unsqueeze(1) == torch.cat([pos_ids, neg_ids]).unsqueeze(0)
    mask[:, :b].fill_diagonal_(False)
    corrected = (logits - log_q.unsqueeze(0)).masked_fill(mask, -1e9)
    return F.cross_entropy(corrected, torch.arange(b))


@torch.no_grad()
def validate(model, data, counts, history, valid, temperature):
    """Full-graph inference; NDCG@10 and Recall@20 of the validation pairs."""
    model.eval()
    x = {t: model.emb[t].weight for t in counts}
    out = model(x, data.edge_index_dict)
    users, items = scoring(out["user"], temperature), scoring(out["item"], temperature)
    by_user = {}
    for u, i in valid.tolist():
        by_user.setdefault(u, []).append(i)
    ids = sorted(by_user)
    ndcg = recall = 0.0
    for start in range(0, len(ids), 512):
        chunk = ids[start:start + 512]
        s = users[chunk] @ items.t()
        for r, u in enumerate(chunk):
            seen = history.get(u)
            if seen is not None:
                s[r, seen] = -float("inf")
        top = s.topk(20, dim=1).indices.tolist()
        for r, u in enumerate(chunk):
            targets = set(by_user[u])
            dcg = sum(1.0 / math.log2(k + 2) for k, i in enumerate(top[r][:10]) if i in targets)
            idcg = sum(1.0 / math.log2(k + 2) for k in range(min(len(targets), 10)))
            ndcg += dcg / idcg
            recall += len(targets.intersection(top[r])) / len(targets)
    model.train()
    return {"ndcg@10": ndcg / len(ids), "recall@20": recall / len(ids), "users": len(ids)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graph", required=True, help="a Tessera graph directory")
    p.add_argument("--out", required=True, help="where the JSON results go")
    p.add_argument("--steps", type=int, default=200, help="training steps, validation passes left out")
    p.add_argument("--validate-every", type=int, default=0, help="steps between validation passes (0: only at the end)")
    p.add_argument("--warmup", type=int, default=3, help="steps left out of the steady-state throughput")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--negatives", type=int, default=4)
    p.add_argument("--fanouts", default="10,5")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--emb-lr", type=float, default=0.05)
    p.add_argument("--emb-l2", type=float, default=3e-5)
    p.add_argument("--dense-lr", type=float, default=1e-3)
    p.add_argument("--glorot", action="store_true", help="PyG's own initialisation instead of the identity")
    p.add_argument("--no-trim", action="store_true", help="run the last layer on the whole sampled subgraph too")
    p.add_argument("--segment-cat", action="store_true",
                   help="HeteroLinear by concatenation, as pyg-lib's segment_matmul (see patch_hetero_linear)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--loader-workers", type=int, default=1, help="sampling processes of the loader")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.segment_cat:
        patch_hetero_linear()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling
    import torch_geometric

    loaded = time.perf_counter()
    data, counts, positives, popularity, valid = load_graph(args.graph)
    log_pop = (popularity.clamp_min(1.0) / popularity.sum()).log()
    history = {}
    for u, i in zip(positives[0].tolist(), positives[1].tolist()):
        history.setdefault(u, []).append(i)
    history = {u: torch.tensor(sorted(set(v))) for u, v in history.items()}
    fanouts = [int(f) for f in args.fanouts.split(",")]
    if len(fanouts) != args.layers:
        raise SystemExit(f"--fanouts has {len(fanouts)} hops for {args.layers} layers")
    model = Hgt(counts, data.metadata(), args.dim, args.heads, args.layers, not args.glorot)
    sparse_opt = torch.optim.Adagrad(list(model.emb.parameters()), lr=args.emb_lr)
    dense_opt = torch.optim.Adam(model.dense_parameters(), lr=args.dense_lr)
    label_type = ("user", "buy", "item") if ("user", "buy", "item") in data.edge_types else \
        next(e for e in data.edge_types if e[0] == "user" and e[2] == "item")
    loader = LinkNeighborLoader(
        data,
        num_neighbors={e: fanouts for e in data.edge_types},
        edge_label_index=(label_type, positives),
        neg_sampling=NegativeSampling("triplet", amount=args.negatives),
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.loader_workers,
        persistent_workers=args.loader_workers > 0,
    )
    setup_secs = time.perf_counter() - loaded
    split = {"sample": 0.0, "compute": 0.0}
    curve, edges, timed_edges, timed_secs, train_secs, step = [], 0, 0, 0.0, 0.0, 0
    it = iter(loader)
    while step < args.steps:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        t1 = time.perf_counter()
        x = {t: model.emb[t](batch[t].n_id) for t in batch.node_types}
        pos_local = batch["item"].dst_pos_index
        neg_local = batch["item"].dst_neg_index.reshape(-1)
        seeds = None if args.no_trim else {
            "user": int(batch["user"].src_index.max()) + 1,
            "item": int(torch.maximum(pos_local.max(), neg_local.max())) + 1,
        }
        out = model(x, batch.edge_index_dict, seeds)
        users = scoring(out["user"][batch["user"].src_index], args.temperature)
        items = scoring(out["item"], args.temperature)
        pos_ids, neg_ids = batch["item"].n_id[pos_local], batch["item"].n_id[neg_local]
        loss = softmax_loss(users, items[pos_local], items[neg_local], pos_ids, neg_ids, log_pop, counts["item"])
        if args.emb_l2 > 0:
            loss = loss + 0.5 * args.emb_l2 * sum(v.pow(2).sum() for v in x.values())
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        loss.backward()
        sparse_opt.step()
        dense_opt.step()
        t2 = time.perf_counter()
        step += 1
        b = users.size(0)
        edges += b
        train_secs += t2 - t0
        if step > args.warmup:
            split["sample"] += t1 - t0
            split["compute"] += t2 - t1
            timed_edges += b
            timed_secs += t2 - t0
        if step % 20 == 0:
            print(f"[pyg] step {step}/{args.steps} loss {loss.item():.4f} "
                  f"{timed_edges / max(timed_secs, 1e-9):.0f} edges/s", file=sys.stderr, flush=True)
        if (args.validate_every and step % args.validate_every == 0) or step == args.steps:
            v = validate(model, data, counts, history, valid, args.temperature)
            curve.append({"steps": step, "edges": edges, "train_secs": train_secs, "metrics": v})
            print(f"[pyg] validation after step {step}: ndcg@10 {v['ndcg@10']:.4f} "
                  f"({train_secs:.1f} s of training)", file=sys.stderr, flush=True)
    result = {
        "side": "pyg",
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "threads": torch.get_num_threads(),
        "loader_workers": args.loader_workers,
        "last_layer_trimmed": not args.no_trim,
        "segment_cat": args.segment_cat,
        "setup_secs": setup_secs,
        "steps": step,
        "edges": edges,
        "train_secs": train_secs,
        "timed_steps": step - args.warmup,
        "edges_per_sec": edges / max(train_secs, 1e-9),
        "steady_edges_per_sec": timed_edges / max(timed_secs, 1e-9),
        "time": split,
        "validation": curve,
        "recipe": {k: v for k, v in vars(args).items() if k not in ("graph", "out")},
    }
    json.dump(result, open(args.out, "w"), indent=1)
    print(json.dumps({k: result[k] for k in ("edges_per_sec", "train_secs", "steps")}))


if __name__ == "__main__":
    main()
