"""Small workloads from the seed article and for experiments: single layers, MLPs, chains."""

from __future__ import annotations

from collections.abc import Callable

from workloads.builder import GraphBuilder
from workloads.graph import Graph


def single_conv(
    name: str, batch: int, cin: int, cout: int, size: int, kernel: int, dtype: str
) -> Graph:
    b = GraphBuilder(name, dtype)
    x = b.input("x", (batch, cin, size, size))
    b.conv2d(x, cout, kernel=kernel, padding=(kernel - 1) // 2, name="conv")
    return b.build()


def seed_conv(batch: int = 1, dtype: str = "fp16") -> Graph:
    """The seed's worked example: 3x3 conv, 100 -> 100 channels, 50x50, 225,000,000 MACs."""
    return single_conv("seed-conv", batch, 100, 100, 50, 3, dtype)


def starved_conv(batch: int = 1, dtype: str = "fp16") -> Graph:
    """The seed's starvation example: 1x1 conv, 10 -> 5 channels, 7x7 input, 2,450 MACs."""
    return single_conv("starved-conv", batch, 10, 5, 7, 1, dtype)


def mlp(batch: int = 1, width: int = 1024, layers: int = 4, dtype: str = "fp16") -> Graph:
    """`layers` linear layers of `width` x `width`, each followed by a ReLU."""
    b = GraphBuilder("mlp", dtype)
    x = b.input("x", (batch, width))
    for i in range(layers):
        x = b.relu(b.linear(x, width, name=f"fc{i}"), name=f"relu{i}")
    return b.build()


def elementwise_chain(
    batch: int = 1, length: int = 50, size: int = 1024, dtype: str = "fp16"
) -> Graph:
    """`length` tiny elementwise ops in a row: launch-bound unless fused."""
    b = GraphBuilder("elementwise-chain", dtype)
    x = b.input("x", (batch, size))
    kinds = ("relu", "sigmoid", "tanh", "silu")
    for i in range(length):
        x = b.unary(kinds[i % len(kinds)], x, name=f"op{i:03d}")
    return b.build()


# name -> builder: `workloads.registry` reads this table; nothing here imports the registry
BUILDERS: dict[str, Callable[..., Graph]] = {
    "seed-conv": seed_conv,
    "starved-conv": starved_conv,
    "mlp": mlp,
    "elementwise-chain": elementwise_chain,
}
