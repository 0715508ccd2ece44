"""Load balance over the PEs: where each output row goes, and ESE-style balanced pruning.

EIE interleaves rows (row ``i`` in PE ``i % n_pe``), so a PE's work is whatever its rows
happen to hold. `balanced_positions` chooses each row's PE and slot instead, to even out
the entries every PE stores, padding included: rows are dealt heaviest first, each to the PE
with the least work so far that still has one of its ``ceil(out_len / n_pe)`` slots free
(so a PE with heavy rows takes fewer), then rows are swapped between the busiest and the
idlest PE while that lowers the busiest PE's entries counted with padding; where row ``i`` in
PE ``i % n_pe`` leaves the busiest PE no busier, that placement is kept. The result is
``positions[i]``, the device row of model row ``i``, for
`eie.format.encode_network(..., balance=True)`.

``column_weights`` weighs each input column by how often it is non-zero (the work of a PE
is the entries of the columns that get broadcast); by default every column counts once.

`balanced_prune_mask` is load-balance-aware pruning as ESE (FPGA 2017) did it: each PE's
share of the matrix keeps the same number of weights (the largest in magnitude), so the
PEs are balanced before any row is moved.
"""

from __future__ import annotations

import heapq

import numpy as np

from . import format as fmt

__all__ = ["balanced_positions", "balanced_positions_coo", "balanced_placement", "balanced_placements",
           "pe_entries", "imbalance", "balanced_prune_mask", "interleaved_positions", "SWAP_ROUNDS"]

# Most swap rounds after the deal: each lowers the busiest PE's count (padding included) or
# ends the search; on EIE's layers at 16-128 PEs it ends by itself within 210 rounds.
SWAP_ROUNDS = 256


def interleaved_positions(out_len: int) -> np.ndarray:
    """EIE's placement: model row ``i`` is device row ``i``."""
    return np.arange(out_len, dtype=np.int64)


def _row_weights(rows, cols, out_len: int, column_weights) -> np.ndarray:
    w = None if column_weights is None else np.asarray(column_weights, np.float64)[cols]
    return np.bincount(rows, weights=w, minlength=out_len).astype(np.float64)


def _deal(weights: np.ndarray, n_pe: int) -> np.ndarray:
    """Heaviest rows first, each to the least-loaded PE that has a slot left (every PE has
    ``ceil(out_len / n_pe)``); a PE's rows take its slots in the order they come."""
    out_len = len(weights)
    cap = fmt.local_rows(out_len, n_pe)
    heap = [(0.0, k) for k in range(n_pe)]            # (load, PE), least loaded on top
    used = [0] * n_pe
    pos = np.empty(out_len, np.int64)
    for i in np.argsort(-weights, kind="stable").tolist():
        load, k = heapq.heappop(heap)
        pos[i] = used[k] * n_pe + k
        used[k] += 1
        if used[k] < cap:
            heapq.heappush(heap, (load + float(weights[i]), k))
    return pos


def pe_entries(indices, positions, n_pe: int, max_run: int, column_weights=None) -> np.ndarray:
    """Entries (padding included) each PE stores for this placement, each column weighted."""
    rows, cols = np.nonzero(np.asarray(indices))
    counts = fmt.pattern_entries(rows, cols, positions, np.asarray(indices).shape[1], n_pe, [max_run])[0]
    if column_weights is None:
        return counts.sum(axis=1).astype(np.float64)
    return counts @ np.asarray(column_weights, np.float64)


def imbalance(per_pe) -> float:
    """Busiest PE's work over the mean (1.0 = perfectly balanced)."""
    per_pe = np.asarray(per_pe, np.float64)
    mean = per_pe.mean() if per_pe.size else 0.0
    return float(per_pe.max() / mean) if mean > 0 else 1.0


class _Rows:
    """A layer's non-zeros grouped by row, to recount one PE's entries (padding included)
    after a swap without touching the rest of the matrix."""

    def __init__(self, rows, cols, shape, n_pe: int, column_weights):
        self.out_len, self.n_cols = shape
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        if len(rows) > 1 and np.any(rows[1:] < rows[:-1]):
            order = np.argsort(rows, kind="stable")      # each row's columns in one run
            rows, cols = rows[order], cols[order]
        self.rows, self.cols = rows, cols
        self.rowptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.out_len))])
        self.n_pe = n_pe
        self.cw = None if column_weights is None else np.asarray(column_weights, np.float64)
        self.weights = _row_weights(rows, cols, self.out_len, column_weights)

    def padless(self, max_run: int) -> bool:
        """A PE's slice of a column spans at most ``ceil(out_len / n_pe)`` rows: with no
        longer run than ``max_run`` there is no padding, whatever the placement."""
        return fmt.local_rows(self.out_len, self.n_pe) <= max_run + 1

    def counts(self, pos: np.ndarray, max_runs) -> np.ndarray:
        """(len(max_runs), n_pe, n_cols) entries (padding included) of every PE."""
        return fmt.pattern_entries(self.rows, self.cols, pos, self.n_cols, self.n_pe, max_runs)

    def loads(self, counts: np.ndarray) -> np.ndarray:
        """Every PE's entries (padding included, columns weighted)."""
        return counts.sum(axis=1).astype(np.float64) if self.cw is None else counts @ self.cw

    def pe_counts(self, members: np.ndarray, pos: np.ndarray, max_run: int) -> tuple[float, np.ndarray]:
        """Load (columns weighted) and (n_cols,) entries, padding included, of the PE
        holding rows ``members``: its own rows only, sorted by column and local row."""
        lens = np.diff(self.rowptr)[members]
        take = np.repeat(self.rowptr[members] - np.cumsum(np.r_[0, lens[:-1]]), lens) + np.arange(lens.sum())
        span = fmt.local_rows(self.out_len, self.n_pe)
        key = np.sort(self.cols[take] * span + np.repeat(pos[members] // self.n_pe, lens))
        cols, local = key // span, key % span
        first = np.ones(len(key), bool)
        first[1:] = cols[1:] != cols[:-1]
        prev = np.where(first, -1, np.concatenate([[-1], local[:-1]]))
        entries = 1 + fmt.padding_before(local - prev - 1, max_run)
        per_col = np.bincount(cols, weights=entries, minlength=self.n_cols).astype(np.int64)
        return float(per_col.sum() if self.cw is None else per_col @ self.cw), per_col

    def row_cols(self, r: int) -> np.ndarray:
        return self.cols[self.rowptr[r]:self.rowptr[r + 1]]


def _swap_pass(rs: _Rows, pos, counts, max_run: int, rounds: int):
    """Swap rows between the busiest and the idlest PE while the busier of the two ends
    lighter than the busiest was. Padding depends on which rows share a PE, so it is
    counted, not estimated (where no slice can pad, a PE's entries are its rows' weights).
    Each round tries the pair whose weights differ by half the gap. Returns the positions
    and their (n_pe, n_cols) entries."""
    n_pe, padless = rs.n_pe, rs.padless(max_run)
    pos, counts = pos.copy(), counts.copy()
    members = [np.flatnonzero(pos % n_pe == k) for k in range(n_pe)]
    load = rs.loads(counts)
    for _ in range(rounds):
        hi, lo = int(load.argmax()), int(load.argmin())
        gap = load[hi] - load[lo]
        a, b = members[hi], members[lo]
        diff = rs.weights[a][:, None] - rs.weights[b][None, :]
        diff[diff <= 0] = np.inf
        if gap <= 1 or not np.isfinite(diff).any():
            break
        i, j = np.unravel_index(np.argmin(np.abs(diff - gap / 2)), diff.shape)
        ra, rb = int(a[i]), int(b[j])
        trial = pos.copy()
        trial[ra], trial[rb] = pos[rb], pos[ra]
        na, nb = np.r_[np.delete(a, i), rb], np.r_[np.delete(b, j), ra]
        if padless:
            la, lb = load[hi] - diff[i, j], load[lo] + diff[i, j]
        else:
            (la, ca), (lb, cb) = rs.pe_counts(na, trial, max_run), rs.pe_counts(nb, trial, max_run)
        if max(la, lb) >= load[hi]:
            break
        if padless:                    # entries follow the rows (a row's columns are distinct)
            ca, cb = counts[hi].copy(), counts[lo].copy()
            ca[rs.row_cols(ra)] -= 1; ca[rs.row_cols(rb)] += 1
            cb[rs.row_cols(rb)] -= 1; cb[rs.row_cols(ra)] += 1
        pos, members[hi], members[lo] = trial, na, nb
        load[hi], load[lo] = la, lb
        counts[hi], counts[lo] = ca, cb
    return pos, counts


def balanced_placements(rows, cols, shape, n_pe: int, max_runs, column_weights=None,
                        swap_rounds: int = SWAP_ROUNDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """`balanced_placement` for several run-length limits at once (one deal and one count
    serve them all; the swaps, which count padding, are each limit's own)."""
    rs = _Rows(rows, cols, shape, n_pe, column_weights)
    pos = _deal(rs.weights, n_pe)
    counts = rs.counts(pos, list(max_runs))
    placed = [_swap_pass(rs, pos, c, m, swap_rounds) if swap_rounds else (pos, c)
              for m, c in zip(max_runs, counts)]
    # EIE's placement when it is at least as even (a matrix pruned balanced, ESE-style, already
    # is; the greedy deal need not find that again).
    plain = interleaved_positions(rs.out_len)
    return [(plain, pc) if rs.loads(pc).max() <= rs.loads(c).max() else (p, c)
            for (p, c), pc in zip(placed, rs.counts(plain, list(max_runs)))]


def balanced_placement(rows, cols, shape, n_pe: int, max_run: int, column_weights=None,
                       swap_rounds: int = SWAP_ROUNDS) -> tuple[np.ndarray, np.ndarray]:
    """`balanced_positions` of the pattern with non-zeros at ``(rows, cols)``, ``shape`` =
    (out_len, in_len), and the (n_pe, in_len) entries (padding included) every PE then
    stores per column (`eie.format.pattern_entries` of the positions)."""
    return balanced_placements(rows, cols, shape, n_pe, [max_run], column_weights, swap_rounds)[0]


def balanced_positions_coo(rows, cols, shape, n_pe: int, max_run: int, column_weights=None,
                           swap_rounds: int = SWAP_ROUNDS) -> np.ndarray:
    """`balanced_positions` of the pattern with non-zeros at ``(rows, cols)``."""
    return balanced_placement(rows, cols, shape, n_pe, max_run, column_weights, swap_rounds)[0]


def balanced_positions(indices, n_pe: int, max_run: int, column_weights=None,
                       swap_rounds: int = SWAP_ROUNDS) -> np.ndarray:
    """Device row of every output row, evening out the PEs' entries (padding included).

    Parameters
    ----------
    indices : (out_len, in_len) codebook indices (0 = pruned), in the model's order.
    n_pe : PEs; every PE receives ``ceil(out_len / n_pe)`` slots (device length
        `eie.format.padded_len`), the slots left over hold no row.
    max_run : the config's longest run of zeros (padding is counted with it).
    column_weights : optional (in_len,) weight of each input column.
    swap_rounds : rounds of row swaps after the deal (each counts padding exactly).
    """
    idx = np.asarray(indices)
    rows, cols = np.nonzero(idx)
    return balanced_positions_coo(rows, cols, idx.shape, n_pe, max_run, column_weights, swap_rounds)


def balanced_prune_mask(weights, density: float, n_pe: int, positions=None, alive=None) -> np.ndarray:
    """ESE's load-balance-aware pruning: keep the ``density`` largest-magnitude weights of
    the matrix spread so that every PE's share keeps the same count (±1).

    ``positions`` (device row of each row, default interleaved) says which rows a PE owns.
    ``alive`` (boolean, the matrix's shape): only these weights may be kept (an earlier
    pruning step's mask: pruning never revives). A PE whose share is smaller than its
    count (fewer rows, or fewer weights alive) keeps them all and the rest goes, evenly,
    to the others, so the matrix keeps ``round(density * size)`` weights in all (at least
    one, at most those alive). Ties go to the earlier weight (row-major), so the mask is
    deterministic. Returns a boolean mask of the weights kept, the matrix's shape.
    """
    w = np.abs(np.asarray(weights, np.float64))
    if w.ndim != 2:
        raise ValueError(f"weights must be a matrix, not shape {w.shape}")
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be between 0 and 1, not {density}")
    live = np.ones(w.shape, bool) if alive is None else np.asarray(alive, bool)
    if live.shape != w.shape:
        raise ValueError(f"alive has shape {live.shape}, the weights {w.shape}")
    out_len = w.shape[0]
    pos = interleaved_positions(out_len) if positions is None else np.asarray(positions, np.int64)
    pe = pos % n_pe
    shares = [np.flatnonzero(pe == k) for k in range(n_pe)]
    room = np.array([int(live[r].sum()) for r in shares], np.int64)
    total = min(int(room.sum()), max(1, int(round(density * w.size))) if density > 0 else 0)
    keep = _even_counts(total, room)
    mask = np.zeros(w.shape, bool)
    for k, r in enumerate(shares):
        if keep[k] == 0:
            continue
        score = np.where(live[r], w[r], -1.0).ravel()
        top = np.argsort(-score, kind="stable")[:keep[k]]
        sub = np.zeros(score.size, bool)
        sub[top] = True
        mask[r] = sub.reshape(len(r), w.shape[1])
    return mask


def _even_counts(total: int, room: np.ndarray) -> np.ndarray:
    """``total`` split over PEs as evenly as their ``room`` allows (water-filling): every PE
    gets the same count, or all its room where that is less; the remainder of one goes to
    the PEs with the most room (ties: lower PE)."""
    keep = np.zeros(len(room), np.int64)
    left, open_ = int(total), room > 0
    while left > 0 and open_.any():
        share = left // int(open_.sum())
        if share == 0:
            order = [k for k in np.argsort(-(room - keep), kind="stable") if open_[k]]
            keep[order[:left]] += 1
            break
        add = np.where(open_, np.minimum(share, room - keep), 0)
        keep += add
        left -= int(add.sum())
        open_ = keep < room
    return keep
