"""A task's CPU and memory over its whole life, in bounded memory (no Textual).

Samples go into buckets of one poll each; when the buckets are full, neighbours merge two
into one (keeping the higher value), so a task that has run for a day still fits in BUCKETS
and its peaks are never averaged away."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

BUCKETS = 480
KEPT_TASKS = 64  # the tasks an operator has looked at in this session


@dataclass
class UsageHistory:
    cpu: list[float] = field(default_factory=list)  # MHz, the highest in each bucket
    memory: list[float] = field(default_factory=list)  # MB
    per_bucket: int = 1  # samples merged into each bucket
    _partial: int = 0  # samples in the last bucket so far
    samples: int = 0

    def add(self, cpu_mhz: float, memory_mb: float) -> None:
        self.samples += 1
        if self._partial and self._partial < self.per_bucket:
            self.cpu[-1], self.memory[-1] = max(self.cpu[-1], cpu_mhz), max(self.memory[-1], memory_mb)
            self._partial += 1
            return
        if len(self.cpu) == BUCKETS:
            self.cpu, self.memory = halve(self.cpu), halve(self.memory)
            self.per_bucket *= 2
        self.cpu.append(cpu_mhz)
        self.memory.append(memory_mb)
        self._partial = 1

    @property
    def peak_cpu(self) -> float:
        return max(self.cpu, default=0.0)

    @property
    def peak_memory(self) -> float:
        return max(self.memory, default=0.0)


def halve(values: list[float]) -> list[float]:
    return [max(values[i : i + 2]) for i in range(0, len(values), 2)]


def fit_to(values: list[float], width: int) -> list[float]:
    """At most `width` values over the whole series: groups merged by their highest."""
    if width <= 0:
        return []
    if len(values) <= width:
        return values
    step = len(values) / width
    return [max(values[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))]) for i in range(width)]


class Histories:
    """The usage seen of each task, by id; the least recently looked at goes first."""

    def __init__(self) -> None:
        self._by_task: OrderedDict[str, UsageHistory] = OrderedDict()

    def of(self, task_id: str) -> UsageHistory:
        history = self._by_task.pop(task_id, None) or UsageHistory()
        self._by_task[task_id] = history
        while len(self._by_task) > KEPT_TASKS:
            self._by_task.popitem(last=False)
        return history
