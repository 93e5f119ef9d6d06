"""Line diff and three-way merge of text, with git's results byte for byte.

Pure functions over bytes: nothing here reads a repository or a file. Two entry
points, and two helpers:

- :func:`diff_lines` is the edit script between two lists of lines, as git's
  xdiff computes it (``git diff --no-index -U0 --no-indent-heuristic``);
- :func:`merge_lines` is ``git merge-file -p`` (and, with
  ``algorithm="histogram", level="zealous"``, the content merge of
  ``git merge-tree`` / merge-ort);
- :func:`split_lines` cuts bytes into lines as xdiff does (at ``\\n`` only);
- :func:`is_binary` is git's test: a NUL in the first 8,000 bytes.

Which diff. The three-way merge is only as good as the two diffs under it: where
two edit scripts of the same cost exist, the choice decides which hunks overlap,
so to give git's conflicts the diff has to make git's choices. ``git merge-file``
diffs with xdiff's Myers (not minimal: with its cost cut-offs), preceded by
xdiff's pruning of lines that have no match on the other side and followed by
its sliding of change groups; merge-ort hard-codes xdiff's histogram diff. So
both are written here, the same way, and Myers is the default because the
contract of this module is ``git merge-file``. Neither is a general library's
algorithm (difflib's ratcliff-obershelp or a textbook Myers choose differently
and would disagree with git on repetitive text); this is our own code, written
from what xdiff's behaviour is, and it is MIT like the rest of gitversions.

Speed. Lines become small integers (one dict look-up each, in C), the runs of
equal lines that dominate real files are measured by comparing list slices
(``memcmp`` speed) rather than element by element, and the change groups are
found with ``bytearray.find``. Python still touches every line a few times, so
a 10 MB file merges in a fraction of a second rather than git's tens of
milliseconds; ``scripts/bench.py`` prints the ratio.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MAX_XDIFF_SIZE",
    "ConflictHunk",
    "DiffHunk",
    "MergeResult",
    "diff_lines",
    "is_binary",
    "merge_lines",
    "split_lines",
]

Algorithm = Literal["myers", "histogram"]
Style = Literal["merge", "diff3", "zdiff3"]
Favor = Literal["ours", "theirs", "union"]
Level = Literal["minimal", "eager", "zealous", "zealous_alnum"]

BINARY_PROBE = 8000  # git's buffer_is_binary looks this far for a NUL
MAX_XDIFF_SIZE = 1 << 30  # git treats larger input as binary (not checked here)
MARKER_SIZE = 7

# xdiff's Myers tuning: below these costs the search is exact.
_MAX_COST_MIN = 256
_HEUR_MIN_COST = 256
_SNAKE_CNT = 20
_K_HEUR = 4
_LINE_MAX = 1 << 62
# xdiff's pruning of lines matched too often on the other side.
_MAX_EQLIMIT = 1024
_SIMSCAN_WINDOW = 100
_KPDIS_RUN = 4
# histogram: a line more frequent than this is no anchor (then Myers decides).
_MAX_CHAIN = 64

_LEVELS = {"minimal": 0, "eager": 1, "zealous": 2, "zealous_alnum": 3}
_FAVORS = {None: 0, "ours": 1, "theirs": 2, "union": 3}
_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_FLIP = bytes.maketrans(b"\x00\x01", b"\x01\x00")  # kept (1) -> unchanged (0)


@dataclass(frozen=True)
class DiffHunk:
    """One change of an edit script, in 0-based line indexes.

    ``a[a_start:a_start+a_count]`` became ``b[b_start:b_start+b_count]``; one
    of the counts may be 0 (a pure insertion or deletion).
    """

    a_start: int
    a_count: int
    b_start: int
    b_count: int


@dataclass(frozen=True)
class ConflictHunk:
    """One conflict left in a merge, as line ranges of the three inputs.

    ``ours_*`` and ``theirs_*`` are the conflicting lines after git narrowed
    them; ``base_*`` is the base region both sides changed (before narrowing).
    """

    base_start: int
    base_count: int
    ours_start: int
    ours_count: int
    theirs_start: int
    theirs_count: int


@dataclass(frozen=True)
class MergeResult:
    """The merged text and the conflicts marked in it (none when clean)."""

    content: bytes
    conflicts: tuple[ConflictHunk, ...]

    @property
    def clean(self) -> bool:
        """Whether the merge left no conflict (git merge-file exits 0)."""
        return not self.conflicts


# -- lines ---------------------------------------------------------------------


def is_binary(data: bytes) -> bool:
    """Tell whether git treats ``data`` as binary: a NUL in its first 8,000 bytes."""
    return b"\0" in data[:BINARY_PROBE]


def split_lines(data: bytes) -> list[bytes]:
    """Cut ``data`` into lines that keep their ``\\n``; the last may lack one.

    Only ``\\n`` ends a line, as in xdiff: a ``\\r`` stays inside its line, so
    ``b"a\\r\\n"`` is one line and CRLF text diffs line by line.
    """
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        # splitlines is C-fast and, without a lone CR, cuts where xdiff does.
        return data.splitlines(keepends=True)
    parts = data.split(b"\n")
    last = parts.pop()
    lines = [part + b"\n" for part in parts]
    if last:
        lines.append(last)
    return lines


def _classes() -> defaultdict[bytes, int]:
    """A map from line to a small integer, equal lines alike (built in C)."""
    return defaultdict(itertools.count().__next__)


def _bogosqrt(n: int) -> int:
    """The cheap square root of xdiff: 2 ** ceil(bits / 2)."""
    root = 1
    while n > 0:
        n >>= 2
        root <<= 1
    return root


# -- runs of equal lines -------------------------------------------------------


def _run_fwd(a: list[int], i: int, b: list[int], j: int, limit: int) -> int:
    """Length of the common run ``a[i:]``, ``b[j:]``, at most ``limit``."""
    k = 0
    while k < limit and k < 8:  # most runs are short: test them one by one
        if a[i + k] != b[j + k]:
            return k
        k += 1
    step = 64
    while k < limit:  # then gallop with slice comparisons (memcmp in C)
        size = min(step, limit - k)
        if a[i + k : i + k + size] == b[j + k : j + k + size]:
            k += size
            step <<= 1
            continue
        high = k + size  # the first difference lies in [k, high)
        while high - k > 16:
            mid = (k + high) >> 1
            if a[i + k : i + mid] == b[j + k : j + mid]:
                k = mid
            else:
                high = mid
        while a[i + k] == b[j + k]:
            k += 1
        return k
    return limit


def _run_bwd(a: list[int], i: int, b: list[int], j: int, limit: int) -> int:
    """Length of the common run ending before ``a[i]`` and ``b[j]``."""
    k = 0
    while k < limit and k < 8:
        if a[i - 1 - k] != b[j - 1 - k]:
            return k
        k += 1
    step = 64
    while k < limit:
        size = min(step, limit - k)
        if a[i - k - size : i - k] == b[j - k - size : j - k]:
            k += size
            step <<= 1
            continue
        high = k + size
        while high - k > 16:
            mid = (k + high) >> 1
            if a[i - mid : i - k] == b[j - mid : j - k]:
                k = mid
            else:
                high = mid
        while a[i - 1 - k] == b[j - 1 - k]:
            k += 1
        return k
    return limit


# -- Myers, as xdiff runs it ---------------------------------------------------


def _kept(
    ids: list[int], start: int, end: int, other: Counter[int], total: int
) -> tuple[list[int], bytes]:
    """Which lines of ``ids[start:end]`` the Myers search must consider.

    A line with no equal on the other side is changed for sure; one with very
    many equals is dropped too when it sits among such lines. Returns the kept
    indexes and, for ``start..end``, 1 per changed (dropped) line.
    """
    limit = min(_bogosqrt(total), _MAX_EQLIMIT)
    # Per line: 0 = no equal on the other side, 1 = some, 2 = many. Built
    # through a dict (one C-level look-up per line) rather than a loop.
    level = dict.fromkeys(other, 1)
    if other and max(other.values()) >= limit:
        for line, matches in other.most_common():
            if matches < limit:
                break
            level[line] = 2
    dis = bytes(map(level.get, ids[start:end], itertools.repeat(0)))
    if 2 in dis:
        keep = bytearray(dis)
        last = len(dis) - 1
        k = dis.find(2)
        while k >= 0:
            keep[k] = 0 if _clean_mmatch(dis, k, 0, last) else 1
            k = dis.find(2, k + 1)
        dis = bytes(keep)
    kept = list(itertools.compress(range(start, end), dis))
    return kept, dis.translate(_FLIP)


def _clean_mmatch(dis: bytes, i: int, s: int, e: int) -> bool:
    """Whether the often-matched line ``i`` lies in a run of unmatched lines.

    ``dis`` holds 0 (no match), 1 (some matches) and 2 (many matches)
    (git 2.39 decides every line from the first classification).
    """
    s = max(s, i - _SIMSCAN_WINDOW)
    e = min(e, i + _SIMSCAN_WINDOW)
    before, many_before = 0, 1
    r = 1
    while i - r >= s:
        d = dis[i - r]
        if d == 0:
            before += 1
        elif d == 2:
            many_before += 1
        else:
            break
        r += 1
    if before == 0:
        return False
    after, many_after = 0, 1
    r = 1
    while i + r <= e:
        d = dis[i + r]
        if d == 0:
            after += 1
        elif d == 2:
            many_after += 1
        else:
            break
        r += 1
    if after == 0:
        return False
    unmatched = before + after
    many = many_before + many_after
    return many * _KPDIS_RUN < many + unmatched


def _myers(a: list[int], b: list[int]) -> tuple[bytearray, bytearray]:
    """Mark the changed lines of ``a`` and ``b`` (1 = changed), as xdiff's Myers.

    Common ends are trimmed, lines that cannot match are set aside, and the
    rest goes to the divide-and-conquer search with xdiff's cost cut-offs.
    """
    n1, n2 = len(a), len(b)
    rchg1, rchg2 = bytearray(n1), bytearray(n2)
    limit = min(n1, n2)
    start = _run_fwd(a, 0, b, 0, limit) if limit else 0
    tail = _run_bwd(a, n1, b, n2, limit - start) if limit > start else 0
    end1, end2 = n1 - tail, n2 - tail
    if start == end1 and start == end2:
        return rchg1, rchg2
    index1, changed1 = _kept(a, start, end1, Counter(b), n1)
    index2, changed2 = _kept(b, start, end2, Counter(a), n2)
    rchg1[start:end1] = changed1
    rchg2[start:end2] = changed2
    ha1 = [a[i] for i in index1]
    ha2 = [b[i] for i in index2]
    _compare(ha1, ha2, index1, index2, rchg1, rchg2)
    return rchg1, rchg2


def _compare(
    ha1: list[int],
    ha2: list[int],
    index1: list[int],
    index2: list[int],
    rchg1: bytearray,
    rchg2: bytearray,
) -> None:
    """Divide and conquer: split boxes until one side is empty, mark the rest."""
    n1, n2 = len(ha1), len(ha2)
    ndiags = n1 + n2 + 3
    search = _Search(ha1, ha2, ndiags, n2 + 1, max(_bogosqrt(ndiags), _MAX_COST_MIN))
    boxes = [(0, n1, 0, n2, False)]
    while boxes:
        off1, lim1, off2, lim2, need_min = boxes.pop()
        limit = min(lim1 - off1, lim2 - off2)
        if limit and ha1[off1] == ha2[off2]:
            run = _run_fwd(ha1, off1, ha2, off2, limit)
            off1 += run
            off2 += run
            limit -= run
        if limit and ha1[lim1 - 1] == ha2[lim2 - 1]:
            run = _run_bwd(ha1, lim1, ha2, lim2, limit)
            lim1 -= run
            lim2 -= run
        if off1 == lim1:
            for k in range(off2, lim2):
                rchg2[index2[k]] = 1
        elif off2 == lim2:
            for k in range(off1, lim1):
                rchg1[index1[k]] = 1
        else:
            i1, i2, min_lo, min_hi = search.split(off1, lim1, off2, lim2, need_min)
            boxes.append((i1, lim1, i2, lim2, min_hi))
            boxes.append((off1, i1, off2, i2, min_lo))


class _Search:
    """The middle-snake search of one diff, with xdiff's heuristics."""

    def __init__(
        self, ha1: list[int], ha2: list[int], ndiags: int, base: int, mxcost: int
    ) -> None:
        self.ha1, self.ha2 = ha1, ha2
        self.kf = [0] * ndiags  # furthest i1 per diagonal, forward
        self.kb = [0] * ndiags  # and backward; diagonal d lives at base + d
        self.base = base
        self.mxcost = mxcost

    def split(
        self, off1: int, lim1: int, off2: int, lim2: int, need_min: bool
    ) -> tuple[int, int, bool, bool]:
        """Where to split the box: (i1, i2, minimal below, minimal above).

        Forward paths from the top corner and backward paths from the bottom
        one grow one edit at a time until they meet; past xdiff's cost limits
        (when a minimal diff is not required) a good-enough split is taken.
        """
        box = (off1, lim1, off2, lim2)
        fmid, bmid = off1 - off2, lim1 - lim2
        odd = bool((fmid - bmid) & 1)
        ranges = [fmid, fmid, bmid, bmid]  # diagonals reached: fmin fmax bmin bmax
        self.kf[self.base + fmid] = off1
        self.kb[self.base + bmid] = lim1
        ec = 0
        while True:
            ec += 1
            found, snake_fwd = self._forward(box, ranges, odd)
            if found is not None:
                return found
            found, snake_bwd = self._backward(box, ranges, odd)
            if found is not None:
                return found
            if need_min:
                continue
            if (snake_fwd or snake_bwd) and ec > _HEUR_MIN_COST:
                found = self._good_snake(box, ec, ranges, (fmid, bmid))
                if found is not None:
                    return found
            if ec >= self.mxcost:
                return self._furthest(box, ranges)

    def _forward(
        self, box: tuple[int, int, int, int], ranges: list[int], odd: bool
    ) -> tuple[tuple[int, int, bool, bool] | None, bool]:
        """Extend each forward path by one edit; (meeting point, long snake)."""
        ha1, ha2, kf, kb, base = self.ha1, self.ha2, self.kf, self.kb, self.base
        off1, lim1, off2, lim2 = box
        fmin, fmax, bmin, bmax = ranges
        if fmin > off1 - lim2:
            fmin -= 1
            kf[base + fmin - 1] = -1
        else:
            fmin += 1
        if fmax < lim1 - off2:
            fmax += 1
            kf[base + fmax + 1] = -1
        else:
            fmax -= 1
        ranges[0], ranges[1] = fmin, fmax
        got_snake = False
        # Diagonal d is slot x = base + d of kf and kb.
        low_b, high_b = base + bmin, base + bmax
        for x in range(base + fmax, base + fmin - 1, -2):
            i1 = kf[x - 1] + 1
            if i1 <= kf[x + 1]:  # noqa: PLR1730 (no call in the hot loop)
                i1 = kf[x + 1]
            i2 = i1 - x + base
            if i1 < lim1 and i2 < lim2 and ha1[i1] == ha2[i2]:
                run = _run_fwd(ha1, i1, ha2, i2, min(lim1 - i1, lim2 - i2))
                if run > _SNAKE_CNT:
                    got_snake = True
                i1 += run
                i2 += run
            kf[x] = i1
            if odd and low_b <= x <= high_b and kb[x] <= i1:
                return (i1, i2, True, True), got_snake
        return None, got_snake

    def _backward(
        self, box: tuple[int, int, int, int], ranges: list[int], odd: bool
    ) -> tuple[tuple[int, int, bool, bool] | None, bool]:
        """Extend each backward path by one edit; (meeting point, long snake)."""
        ha1, ha2, kf, kb, base = self.ha1, self.ha2, self.kf, self.kb, self.base
        off1, lim1, off2, lim2 = box
        fmin, fmax, bmin, bmax = ranges
        if bmin > off1 - lim2:
            bmin -= 1
            kb[base + bmin - 1] = _LINE_MAX
        else:
            bmin += 1
        if bmax < lim1 - off2:
            bmax += 1
            kb[base + bmax + 1] = _LINE_MAX
        else:
            bmax -= 1
        ranges[2], ranges[3] = bmin, bmax
        got_snake = False
        low_f, high_f = base + fmin, base + fmax
        for x in range(base + bmax, base + bmin - 1, -2):
            i1 = kb[x - 1]
            if i1 >= kb[x + 1]:
                i1 = kb[x + 1] - 1
            i2 = i1 - x + base
            if i1 > off1 and i2 > off2 and ha1[i1 - 1] == ha2[i2 - 1]:
                run = _run_bwd(ha1, i1, ha2, i2, min(i1 - off1, i2 - off2))
                if run > _SNAKE_CNT:
                    got_snake = True
                i1 -= run
                i2 -= run
            kb[x] = i1
            if not odd and low_f <= x <= high_f and i1 <= kf[x]:
                return (i1, i2, True, True), got_snake
        return None, got_snake

    def _good_snake(
        self,
        box: tuple[int, int, int, int],
        ec: int,
        ranges: list[int],
        mids: tuple[int, int],
    ) -> tuple[int, int, bool, bool] | None:
        """A split on a long snake far along its path, if the search has one."""
        ha1, ha2, kf, kb, base = self.ha1, self.ha2, self.kf, self.kb, self.base
        off1, lim1, off2, lim2 = box
        fmin, fmax, bmin, bmax = ranges
        fmid, bmid = mids
        best, split = 0, (0, 0)
        for d in range(fmax, fmin - 1, -2):
            dd = d - fmid if d > fmid else fmid - d
            i1 = kf[base + d]
            i2 = i1 - d
            v = (i1 - off1) + (i2 - off2) - dd
            if (
                v > _K_HEUR * ec
                and v > best
                and off1 + _SNAKE_CNT <= i1 < lim1
                and off2 + _SNAKE_CNT <= i2 < lim2
            ):
                k = 1
                while ha1[i1 - k] == ha2[i2 - k]:
                    if k == _SNAKE_CNT:
                        best, split = v, (i1, i2)
                        break
                    k += 1
        if best > 0:
            return split[0], split[1], True, False
        best = 0
        for d in range(bmax, bmin - 1, -2):
            dd = d - bmid if d > bmid else bmid - d
            i1 = kb[base + d]
            i2 = i1 - d
            v = (lim1 - i1) + (lim2 - i2) - dd
            if (
                v > _K_HEUR * ec
                and v > best
                and off1 < i1 <= lim1 - _SNAKE_CNT
                and off2 < i2 <= lim2 - _SNAKE_CNT
            ):
                k = 0
                while ha1[i1 + k] == ha2[i2 + k]:
                    if k == _SNAKE_CNT - 1:
                        best, split = v, (i1, i2)
                        break
                    k += 1
        if best > 0:
            return split[0], split[1], False, True
        return None

    def _furthest(
        self, box: tuple[int, int, int, int], ranges: list[int]
    ) -> tuple[int, int, bool, bool]:
        """Enough searching: split at the path that got furthest."""
        kf, kb, base = self.kf, self.kb, self.base
        off1, lim1, off2, lim2 = box
        fmin, fmax, bmin, bmax = ranges
        fbest = fbest1 = -1
        for d in range(fmax, fmin - 1, -2):
            i1 = min(kf[base + d], lim1)
            i2 = i1 - d
            if lim2 < i2:
                i1, i2 = lim2 + d, lim2
            if fbest < i1 + i2:
                fbest, fbest1 = i1 + i2, i1
        bbest = bbest1 = _LINE_MAX
        for d in range(bmax, bmin - 1, -2):
            i1 = max(off1, kb[base + d])
            i2 = i1 - d
            if i2 < off2:
                i1, i2 = off2 + d, off2
            if i1 + i2 < bbest:
                bbest, bbest1 = i1 + i2, i1
        if (lim1 + lim2) - bbest < fbest - (off1 + off2):
            return fbest1, fbest - fbest1, True, False
        return bbest1, bbest - bbest1, False, True


# -- histogram, as xdiff runs it -----------------------------------------------


def _histogram(a: list[int], b: list[int]) -> tuple[bytearray, bytearray]:
    """Mark the changed lines of ``a`` and ``b``, as xdiff's histogram diff.

    Recursively anchors on the longest run of common lines whose rarest line
    is rarest, and falls back to Myers where every common line is too frequent.
    """
    rchg1, rchg2 = bytearray(len(a)), bytearray(len(b))
    ranges = [(0, len(a), 0, len(b))]
    while ranges:
        s1, e1, s2, e2 = ranges.pop()
        if s1 == e1 or s2 == e2:
            rchg1[s1:e1] = b"\x01" * (e1 - s1)
            rchg2[s2:e2] = b"\x01" * (e2 - s2)
            continue
        lcs = _find_lcs(a, s1, e1, b, s2, e2)
        if lcs is True:
            sub1, sub2 = _myers(a[s1:e1], b[s2:e2])
            rchg1[s1:e1] = sub1
            rchg2[s2:e2] = sub2
        elif lcs is None:
            rchg1[s1:e1] = b"\x01" * (e1 - s1)
            rchg2[s2:e2] = b"\x01" * (e2 - s2)
        else:
            as_, ae, bs, be = lcs
            ranges.append((ae, e1, be, e2))
            ranges.append((s1, as_, s2, bs))
    return rchg1, rchg2


def _find_lcs(
    a: list[int], s1: int, e1: int, b: list[int], s2: int, e2: int
) -> tuple[int, int, int, int] | Literal[True] | None:
    """The anchor run ``(a_start, a_end, b_start, b_end)`` (ends exclusive).

    None when nothing is common, True when only over-frequent lines are (then
    the caller uses Myers).
    """
    first: dict[int, int] = {}  # line -> its first index in a[s1:e1]
    after = [-1] * (e1 - s1)  # index -> next index of the same line, or -1
    for ptr in range(e1 - 1, s1 - 1, -1):
        line = a[ptr]
        after[ptr - s1] = first.get(line, -1)
        first[line] = ptr
    count = Counter(a[s1:e1])
    best: tuple[int, int, int, int] | None = None
    best_len, best_cnt = 0, _MAX_CHAIN + 1
    has_common = False
    b_ptr = s2
    while b_ptr < e2:
        b_next = b_ptr + 1
        line = b[b_ptr]
        as_ = first.get(line, -1)
        if as_ >= 0:
            has_common = True
            if count[line] <= best_cnt:
                while True:
                    nxt = after[as_ - s1]
                    start1, start2, stop1, stop2, rc = _grow(
                        a, s1, e1, b, s2, e2, as_, b_ptr, count
                    )
                    b_next = max(b_next, stop2)
                    if best_len < stop1 - start1 - 1 or rc < best_cnt:
                        best = (start1, stop1, start2, stop2)
                        best_len, best_cnt = stop1 - start1 - 1, rc
                    while 0 <= nxt < stop1:
                        nxt = after[nxt - s1]
                    if nxt < 0:
                        break
                    as_ = nxt
        b_ptr = b_next
    if has_common and best_cnt > _MAX_CHAIN:
        return True
    return best


def _grow(
    a: list[int],
    s1: int,
    e1: int,
    b: list[int],
    s2: int,
    e2: int,
    i: int,
    j: int,
    count: Counter[int],
) -> tuple[int, int, int, int, int]:
    """The run of common lines through ``a[i] == b[j]``, and its rarest count."""
    back = _run_bwd(a, i, b, j, min(i - s1, j - s2))
    fwd = _run_fwd(a, i + 1, b, j + 1, min(e1 - i - 1, e2 - j - 1))
    start1, stop1 = i - back, i + 1 + fwd
    rc = count[a[i]]
    if rc > 1:
        rc = min(rc, *map(count.__getitem__, a[start1:stop1]))
    return start1, j - back, stop1, j + 1 + fwd, rc


# -- sliding change groups (xdl_change_compact) --------------------------------


def _end_of_group(rchg: bytearray, pos: int) -> int:
    end = rchg.find(0, pos)
    return len(rchg) if end < 0 else end


def _slide_up(rchg: bytearray, start: int, end: int) -> tuple[int, int]:
    """Move a group one line up, joining the group it then touches."""
    start -= 1
    end -= 1
    rchg[start] = 1
    rchg[end] = 0
    return rchg.rfind(0, 0, start) + 1, end


def _settle(
    ids: list[int],
    rchg: bytearray,
    group: tuple[int, int, int],
    other_nonempty: Callable[[int], bool],
) -> tuple[int, int, int]:
    """Slide one group (start, end, number) to where xdiff leaves it."""
    start, end, j = group
    n = len(ids)
    while True:
        size = end - start
        matching_end = -1
        while start > 0 and ids[start - 1] == ids[end - 1]:
            start, end = _slide_up(rchg, start, end)
            j -= 1
        earliest_end = end
        if other_nonempty(j):
            matching_end = end
        while end < n and ids[start] == ids[end]:  # slide down
            rchg[start] = 0
            rchg[end] = 1
            start += 1
            end = _end_of_group(rchg, end + 1)
            j += 1
            if other_nonempty(j):
                matching_end = end
        if size == end - start:  # it grew: slide the whole again
            break
    if end != earliest_end and matching_end != -1:
        while not other_nonempty(j):  # back up to the other side's change
            start, end = _slide_up(rchg, start, end)
            j -= 1
    return start, end, j


def _compact(ids: list[int], rchg: bytearray, rchg_o: bytearray) -> None:
    """Slide each group of changed lines of one side as xdiff does.

    A group that can move (its first line equals the line after it, or its
    last the line before) is moved down as far as possible, merging with the
    groups it meets, then back up to line up with a change of the other side
    when there is one. Groups of the two sides are kept in step: group ``j``
    of each lies between their ``j``-th and ``j+1``-th unchanged lines.
    """
    n_o = len(rchg_o)
    unchanged_o = list(itertools.compress(range(n_o), rchg_o.translate(_FLIP)))
    count_o = len(unchanged_o)

    def other_nonempty(j: int) -> bool:
        end = unchanged_o[j] if j < count_o else n_o
        start = unchanged_o[j - 1] + 1 if j else 0
        return end > start

    start = rchg.find(1)
    j = start  # the groups before the first change are empty, one per line
    while start >= 0:
        end = _end_of_group(rchg, start)
        start, end, j = _settle(ids, rchg, (start, end, j), other_nonempty)
        following = rchg.find(1, end + 1) if end < len(ids) else -1
        j += following - end
        start = following


def _groups(rchg: bytearray) -> list[tuple[int, int, int]]:
    """The non-empty change groups: (group number, start, end)."""
    groups = []
    changed = 0
    start = rchg.find(1)
    while start >= 0:
        end = _end_of_group(rchg, start)
        groups.append((start - changed, start, end))
        changed += end - start
        start = rchg.find(1, end)
    return groups


def _script(rchg1: bytearray, rchg2: bytearray) -> list[tuple[int, int, int, int]]:
    """Pair the groups of both sides into hunks (i1, i2, chg1, chg2)."""
    g1, g2 = _groups(rchg1), _groups(rchg2)
    hunks = []
    p1 = p2 = 0
    changed1 = changed2 = 0
    none = (_LINE_MAX, 0, 0)
    while p1 < len(g1) or p2 < len(g2):
        j1, s1, e1 = g1[p1] if p1 < len(g1) else none
        j2, s2, e2 = g2[p2] if p2 < len(g2) else none
        j = min(j1, j2)
        if j1 == j:
            p1 += 1
        else:
            s1 = e1 = j + changed1
        if j2 == j:
            p2 += 1
        else:
            s2 = e2 = j + changed2
        hunks.append((s1, s2, e1 - s1, e2 - s2))
        changed1 += e1 - s1
        changed2 += e2 - s2
    return hunks


def _diff_ids(
    a: list[int], b: list[int], algorithm: Algorithm
) -> list[tuple[int, int, int, int]]:
    """The edit script between two lists of line ids (xdl_do_diff + compact)."""
    if algorithm == "myers":
        rchg1, rchg2 = _myers(a, b)
    elif algorithm == "histogram":
        rchg1, rchg2 = _histogram(a, b)
    else:
        raise ValueError(f"unknown diff algorithm {algorithm!r}")
    _compact(a, rchg1, rchg2)
    _compact(b, rchg2, rchg1)
    return _script(rchg1, rchg2)


def diff_lines(
    a: Sequence[bytes], b: Sequence[bytes], *, algorithm: Algorithm = "myers"
) -> list[DiffHunk]:
    """Return the edit script from lines ``a`` to lines ``b``, as git computes it.

    The hunks are those of ``git diff --no-index -U0 --no-indent-heuristic``
    (with ``--histogram`` for ``algorithm="histogram"``): same places, same
    sizes, in order, without context.

    Args:
        a: The old lines (see :func:`split_lines`).
        b: The new lines.
        algorithm: ``"myers"`` (git's default) or ``"histogram"``.

    Returns:
        The changes, first to last; empty when the lines are equal.
    """
    classes = _classes()
    ids_a = list(map(classes.__getitem__, a))
    ids_b = list(map(classes.__getitem__, b))
    return [
        DiffHunk(i1, c1, i2, c2)
        for i1, i2, c1, c2 in _diff_ids(ids_a, ids_b, algorithm)
    ]


# -- three-way merge (xdl_merge) -----------------------------------------------


class _Hunk:
    """One region of the merge: taken from a side (mode 1, 2) or in conflict (0).

    ``i0/chg0`` are base lines, ``i1/chg1`` ours, ``i2/chg2`` theirs. Mode 4
    marks a conflict found identical on closer look (copied as ours).
    """

    __slots__ = ("chg0", "chg1", "chg2", "i0", "i1", "i2", "mode")

    def __init__(
        self, mode: int, i0: int, chg0: int, i1: int, chg1: int, i2: int, chg2: int
    ) -> None:
        self.mode = mode
        self.i0, self.chg0 = i0, chg0
        self.i1, self.chg1 = i1, chg1
        self.i2, self.chg2 = i2, chg2


def _append(
    hunks: list[_Hunk],
    mode: int,
    i0: int,
    chg0: int,
    i1: int,
    chg1: int,
    i2: int,
    chg2: int,
) -> None:
    """Add a region, joining it to the previous one when they touch."""
    if hunks:
        m = hunks[-1]
        if i1 <= m.i1 + m.chg1 or i2 <= m.i2 + m.chg2:
            if mode != m.mode:
                m.mode = 0
            m.chg0 = i0 + chg0 - m.i0
            m.chg1 = i1 + chg1 - m.i1
            m.chg2 = i2 + chg2 - m.i2
            return
    hunks.append(_Hunk(mode, i0, chg0, i1, chg1, i2, chg2))


def _combine(
    script1: list[tuple[int, int, int, int]],
    script2: list[tuple[int, int, int, int]],
    ours: list[int],
    theirs: list[int],
    size_shift: tuple[int, int],
    level: int,
) -> list[_Hunk]:
    """Walk both edit scripts against the base and list the merge regions."""
    hunks: list[_Hunk] = []
    p1 = p2 = 0
    while p1 < len(script1) and p2 < len(script2):
        b1, o1, bc1, oc1 = script1[p1]
        b2, t2, bc2, tc2 = script2[p2]
        if b1 + bc1 < b2:  # ours alone changed this region
            _append(hunks, 1, b1, bc1, o1, oc1, t2 - b2 + b1, bc1)
            p1 += 1
            continue
        if b2 + bc2 < b1:  # theirs alone
            _append(hunks, 2, b2, bc2, o1 - b1 + b2, bc2, t2, tc2)
            p2 += 1
            continue
        if (
            level == 0
            or b1 != b2
            or bc1 != bc2
            or oc1 != tc2
            or ours[o1 : o1 + oc1] != theirs[t2 : t2 + tc2]
        ):
            off = b1 - b2
            ffo = off + bc1 - bc2
            i0, i1, i2 = b1, o1, t2
            if off > 0:
                i0 -= off
                i1 -= off
            else:
                i2 += off
            chg0 = b1 + bc1 - i0
            chg1 = o1 + oc1 - i1
            chg2 = t2 + tc2 - i2
            if ffo < 0:
                chg0 -= ffo
                chg1 -= ffo
            else:
                chg2 += ffo
            _append(hunks, 0, i0, chg0, i1, chg1, i2, chg2)
        end1, end2 = b1 + bc1, b2 + bc2
        if end1 >= end2:
            p2 += 1
        if end2 >= end1:
            p1 += 1
    for b1, o1, bc1, oc1 in script1[p1:]:
        _append(hunks, 1, b1, bc1, o1, oc1, b1 + size_shift[1], bc1)
    for b2, t2, bc2, tc2 in script2[p2:]:
        _append(hunks, 2, b2, bc2, b2 + size_shift[0], bc2, t2, tc2)
    return hunks


def _refine(
    hunks: list[_Hunk], ours: list[int], theirs: list[int], algorithm: Algorithm
) -> list[_Hunk]:
    """Narrow each conflict to the lines where ours and theirs really differ."""
    refined: list[_Hunk] = []
    for m in hunks:
        if m.mode or not m.chg1 or not m.chg2:
            refined.append(m)
            continue
        script = _diff_ids(
            ours[m.i1 : m.i1 + m.chg1], theirs[m.i2 : m.i2 + m.chg2], algorithm
        )
        if not script:
            m.mode = 4  # the same lines after all
            refined.append(m)
            continue
        for s1, s2, c1, c2 in script:
            refined.append(_Hunk(0, m.i0, m.chg0, m.i1 + s1, c1, m.i2 + s2, c2))
    return refined


def _refine_zdiff3(hunks: list[_Hunk], ours: list[int], theirs: list[int]) -> None:
    """zdiff3: move lines common to both sides out of each conflict's ends."""
    for m in hunks:
        if m.mode:
            continue
        while m.chg1 and m.chg2 and ours[m.i1] == theirs[m.i2]:
            m.chg1 -= 1
            m.chg2 -= 1
            m.i1 += 1
            m.i2 += 1
        while (
            m.chg1 and m.chg2 and ours[m.i1 + m.chg1 - 1] == theirs[m.i2 + m.chg2 - 1]
        ):
            m.chg1 -= 1
            m.chg2 -= 1


def _simplify(hunks: list[_Hunk], ours: list[bytes], alnum: bool) -> None:
    """Join conflicts that only a few lines separate: one reads better than two.

    A few: at most 3 lines, or (at the alnum level) lines without a letter
    or a digit.
    """
    k = 0
    while k + 1 < len(hunks):
        m, nxt = hunks[k], hunks[k + 1]
        begin, end = m.i1 + m.chg1, nxt.i1
        if (
            m.mode
            or nxt.mode
            or (
                end - begin > 3
                and (
                    not alnum
                    or any(_ALNUM.intersection(line) for line in ours[begin:end])
                )
            )
        ):
            k += 1
            continue
        m.chg0 = nxt.i0 + nxt.chg0 - m.i0
        m.chg1 = nxt.i1 + nxt.chg1 - m.i1
        m.chg2 = nxt.i2 + nxt.chg2 - m.i2
        del hunks[k + 1]


def _eol_crlf(lines: list[bytes], i: int) -> int:
    """1 if line ``i`` ends in CRLF, 0 if in LF, -1 if it cannot be told.

    A last line without newline answers for the line before it.
    """
    n = len(lines)
    if i < n - 1:
        line = lines[i]
        return int(len(line) > 1 and line[-2] == 13)
    if not n:
        return -1
    line = lines[i]
    if line and line[-1] == 10:
        return int(len(line) > 1 and line[-2] == 13)
    if not i:
        return -1
    line = lines[i - 1]
    return int(len(line) > 1 and line[-2] == 13)


class _Writer:
    """Builds the merged text from the three line lists (xdl_fill_merge_buffer)."""

    def __init__(
        self,
        base: list[bytes],
        ours: list[bytes],
        theirs: list[bytes],
        labels: tuple[bytes | None, bytes | None, bytes | None],
        marker_size: int,
        with_base: bool,
    ) -> None:
        self.base, self.ours, self.theirs = base, ours, theirs
        self.labels = labels
        self.marker_size = marker_size
        self.with_base = with_base
        self.out: list[bytes] = []

    def needs_cr(self, m: _Hunk) -> bool:
        """Whether the lines a conflict adds end in CRLF.

        They do when ours, theirs and the base all use CRLF around it (as
        far as each can tell).
        """
        crlf = _eol_crlf(self.ours, m.i1 - 1 if m.i1 else 0)
        if crlf:
            crlf = _eol_crlf(self.theirs, m.i2 - 1 if m.i2 else 0)
        if crlf:
            crlf = _eol_crlf(self.base, 0)
        return crlf > 0

    def copy(
        self, lines: list[bytes], i: int, count: int, cr: bool, add_nl: bool
    ) -> None:
        """Copy lines; ``add_nl`` ends a last line that has no newline."""
        if count < 1:
            return
        self.out.extend(lines[i : i + count])
        if add_nl and not lines[i + count - 1].endswith(b"\n"):
            self.out.append(b"\r\n" if cr else b"\n")

    def marker(self, char: bytes, label: bytes | None, cr: bool) -> None:
        """One marker line: ``<<<<<<< label`` and the like."""
        text = char * self.marker_size
        if label is not None:
            text += b" " + label
        self.out.append(text + (b"\r\n" if cr else b"\n"))

    def conflict(self, m: _Hunk) -> None:
        """Both sides of a conflict between markers (and the base with diff3)."""
        cr = self.needs_cr(m)
        ours_label, theirs_label, base_label = self.labels
        self.marker(b"<", ours_label, cr)
        self.copy(self.ours, m.i1, m.chg1, cr, True)
        if self.with_base:
            self.marker(b"|", base_label, cr)
            self.copy(self.base, m.i0, m.chg0, cr, True)
        self.marker(b"=", None, cr)
        self.copy(self.theirs, m.i2, m.chg2, cr, True)
        self.marker(b">", theirs_label, cr)

    def write(self, hunks: list[_Hunk], favor: int) -> bytes:
        """The whole merged text."""
        ours, out = self.ours, self.out
        i = 0
        for m in hunks:
            if favor and not m.mode:
                m.mode = favor
            if m.mode == 0:
                out.extend(ours[i : m.i1])
                self.conflict(m)
            elif m.mode & 3:
                out.extend(ours[i : m.i1])
                if m.mode & 1:
                    self.copy(ours, m.i1, m.chg1, self.needs_cr(m), bool(m.mode & 2))
                if m.mode & 2:
                    out.extend(self.theirs[m.i2 : m.i2 + m.chg2])
            else:
                continue
            i = m.i1 + m.chg1
        out.extend(ours[i:])
        return b"".join(out)


def _label(label: str | None) -> bytes | None:
    return None if label is None else label.encode("utf-8", "surrogateescape")


def merge_lines(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    *,
    ours_label: str | None = None,
    theirs_label: str | None = None,
    base_label: str | None = None,
    style: Style = "merge",
    favor: Favor | None = None,
    level: Level = "zealous_alnum",
    algorithm: Algorithm = "myers",
    marker_size: int = MARKER_SIZE,
) -> MergeResult:
    """Merge two texts changed from a common base, line by line, as git does.

    With the defaults this is ``git merge-file -p -L ours -L base -L theirs``:
    changes on one side are taken, the same change on both sides is taken once,
    overlapping or touching changes conflict, and each conflict is narrowed to
    the lines where the sides really differ (conflicts fewer than four lines
    apart, or apart by lines without a letter or digit, are joined). A last
    line without newline and CRLF text come out as from git. Binary input is
    not refused here: test it with :func:`is_binary` first, as git does.

    Args:
        base: The common ancestor's text.
        ours: Our text (its conflict side comes first).
        theirs: Their text.
        ours_label: Name after ``<<<<<<<`` (None: the bare marker).
        theirs_label: Name after ``>>>>>>>``.
        base_label: Name after ``|||||||`` (diff3 and zdiff3 styles).
        style: ``"merge"``; ``"diff3"`` also shows the base lines of each
            conflict, unnarrowed (``--diff3``); ``"zdiff3"`` narrows only the
            lines common at both ends (``--zdiff3``).
        favor: Resolve conflicts to ``"ours"``, ``"theirs"`` or ``"union"``
            (``--ours``, ``--theirs``, ``--union``); None leaves markers.
        level: How hard conflicts are narrowed: ``"zealous_alnum"`` is
            ``git merge-file``; ``"zealous"`` is what merge-ort uses.
        algorithm: ``"myers"`` (``git merge-file``) or ``"histogram"``
            (merge-ort, hence ``git merge-tree``).
        marker_size: Length of the markers (git's conflict-marker-size).

    Returns:
        The merged text and its conflicts; ``clean`` when there are none.
    """
    if style not in ("merge", "diff3", "zdiff3"):
        raise ValueError(f"unknown conflict style {style!r}")
    if favor not in _FAVORS or level not in _LEVELS:
        raise ValueError(f"unknown favor {favor!r} or level {level!r}")
    base_lines, ours_lines, theirs_lines = (
        split_lines(t) for t in (base, ours, theirs)
    )
    classes = _classes()
    base_ids, ours_ids, theirs_ids = (
        list(map(classes.__getitem__, lines))
        for lines in (base_lines, ours_lines, theirs_lines)
    )
    script1 = _diff_ids(base_ids, ours_ids, algorithm)
    script2 = _diff_ids(base_ids, theirs_ids, algorithm)
    if not script1:
        return MergeResult(theirs, ())
    if not script2:
        return MergeResult(ours, ())
    depth = _LEVELS[level]
    if style != "merge":
        depth = min(depth, 1)  # diff3 output shows the base: nothing to narrow
    shift = (len(ours_lines) - len(base_lines), len(theirs_lines) - len(base_lines))
    hunks = _combine(script1, script2, ours_ids, theirs_ids, shift, depth)
    if style == "zdiff3":
        _refine_zdiff3(hunks, ours_ids, theirs_ids)
    elif depth >= 2:
        hunks = _refine(hunks, ours_ids, theirs_ids, algorithm)
        _simplify(hunks, ours_lines, depth > 2)
    labels = (_label(ours_label), _label(theirs_label), _label(base_label))
    writer = _Writer(
        base_lines, ours_lines, theirs_lines, labels, marker_size, style != "merge"
    )
    content = writer.write(hunks, _FAVORS[favor])
    conflicts = tuple(
        ConflictHunk(m.i0, m.chg0, m.i1, m.chg1, m.i2, m.chg2)
        for m in hunks
        if m.mode == 0
    )
    return MergeResult(content, conflicts)
