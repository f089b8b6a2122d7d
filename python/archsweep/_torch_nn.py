"""The PyTorch modules ``Model.to_torch()`` builds models from (imported only by it: this imports
torch). Module-level classes, so a converted model pickles and saves like any other."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ChannelsFirst(nn.Module):
    """Runs ``body`` (a conv, pool or norm, channels-first as PyTorch's are) on a channels-last tensor."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.movedim(self.body(torch.movedim(x, -1, 1)), 1, -1)


class Recurrent(nn.Module):
    """nn.RNN/LSTM/GRU (batch_first): every step's output, or the last."""

    def __init__(self, body: nn.Module, sequences: bool) -> None:
        super().__init__()
        self.body, self.sequences = body, sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)[0]
        return out if self.sequences else out[:, -1]


class SelfAttention(nn.Module):
    """nn.MultiheadAttention (batch_first) on its input as query, key and value."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x, x, x, need_weights=False)[0]


class Reduce(nn.Module):
    """Global pooling over the spatial axes of a channels-last tensor."""

    def __init__(self, how: str, rank: int, keepdims: bool) -> None:
        super().__init__()
        self.how, self.dims, self.keepdims = how, tuple(range(1, rank + 1)), keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "mean":
            return x.mean(dim=self.dims, keepdim=self.keepdims)
        return x.amax(dim=self.dims, keepdim=self.keepdims)


class Merge(nn.Module):
    """A merge layer's combination of its inputs (Keras' Add, Subtract, Multiply, Average, Maximum,
    Concatenate on ``axis``)."""

    def __init__(self, how: str, axis: int = -1) -> None:
        super().__init__()
        self.how, self.axis = how, axis

    def forward(self, *given: torch.Tensor) -> torch.Tensor:
        if self.how == "Concatenate":
            return torch.cat(given, dim=self.axis)
        if self.how == "Subtract":
            return given[0] - given[1]
        total = given[0]
        for x in given[1:]:
            total = torch.maximum(total, x) if self.how == "Maximum" else total * x if self.how == "Multiply" else \
                total + x  # fmt: skip
        return total / len(given) if self.how == "Average" else total


class Graph(nn.Module):
    """A model's layers in order, each a module on its inbound nodes' outputs."""

    def __init__(self, steps: list[tuple[nn.Module, tuple[int, ...]]], n_inputs: int, outputs: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList([m for m, _ in steps])
        self.inbound = [inbound for _, inbound in steps]
        self.n_inputs, self.outputs = n_inputs, outputs

    def forward(self, *inputs: torch.Tensor) -> Any:
        values = list(inputs)
        for module, inbound in zip(self.layers, self.inbound):
            values.append(module(*(values[i] for i in inbound)))
        out = [values[i] for i in self.outputs]
        return out[0] if len(out) == 1 else tuple(out)
