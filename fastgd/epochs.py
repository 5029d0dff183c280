"""The host's share of a mini-batch solve (``minimize(..., batch_size=m)``), for every
backend (fastgd/cpu/backend_minibatch.py, fastgd/gpu/backend_minibatch.py): each epoch's
visiting order and each update's step-size factor, drawn for blocks of epochs, and the
loop of compiled calls that advances the solve up to a stop.

Epoch e's order is the e-th ``rng.permutation(n)`` of the solve's generator
(``np.random.default_rng(random_state)``, or the Generator passed), the same for every
problem of a batch, with each mini-batch's indices sorted (cache-friendly; the
gradient's sum does not depend on the order); ``shuffle=False``: the rows in their
stored order.  Orders are drawn for blocks of epochs (config.MINIBATCH_ORDER_BYTES at
most; 16 epochs, then as many as were run before), always in epoch order, so the result
does not depend on how the outer loop chunks the solve (callback, progress), on the
thread count nor on the device.  Update u (1-based over the solve) has the factor 1
("constant"), u^-0.5 ("invscaling") or schedule(u) (a callable, evaluated here).
"""
import numpy as np

from . import config, contract
from .validate.minibatch import schedule_factor


def update_factors(schedule, first, count):
    """(count,) float64: the lr_schedule's factor of updates first .. first + count - 1
    (1-based).  A callable's value must be a finite real >= 0 (ValueError otherwise)."""
    if schedule == "constant":
        return np.ones(count)
    u = np.arange(first, first + count, dtype=np.float64)
    if schedule == "invscaling":
        return 1.0 / np.sqrt(u)
    out = np.empty(count)
    for k in range(count):
        out[k] = schedule_factor(schedule, first + k)
    return out


class Epochs:
    """The epochs of one mini-batch solve of n rows (minibatch: validate.MiniBatch):
    ``updates`` per epoch, ``orders`` for a block of them, ``advance`` to a stop."""

    def __init__(self, minibatch, n):
        self.n = n
        self.bsize = minibatch.size
        self.shuffle = minibatch.shuffle
        self.schedule = minibatch.schedule
        self.rng = minibatch.rng
        self.updates = -(-n // minibatch.size)  # per epoch
        self.most_epochs = max(1, config.MINIBATCH_ORDER_BYTES // (8 * (n + self.updates)))

    def orders(self, base, epochs):
        """(epochs, n) int64 visiting orders of epochs base .. (or (0, 0): stored order)
        and (epochs, updates) float64 step-size factors."""
        n, m, nb = self.n, self.bsize, self.updates
        factors = update_factors(self.schedule, base * nb + 1, epochs * nb).reshape(epochs, nb)
        if not self.shuffle:
            return np.zeros((0, 0), np.int64), factors
        order = np.empty((epochs, n), np.int64)
        full = (n // m) * m
        for e in range(epochs):
            order[e] = self.rng.permutation(n)
            order[e, :full].reshape(-1, m).sort(axis=1)
            order[e, full:].sort()
        return order, factors

    def advance(self, state, ip, call):
        """Advance every running problem up to epoch ip[IP_STOP_AT] by compiled calls
        ``call(order, factors, base, upto) -> state`` (the host state (B, STATE_SIZE)
        after the call), one per block of epochs; `state` is the host state now."""
        stop_at = int(ip[contract.IP_STOP_AT])
        running = state[:, contract.ST_STATUS] == contract.RUNNING
        if not running.any():
            return
        # every running problem has reached the same epoch (the last call's stop)
        base = int(state[running, contract.ST_NIT].min())
        while True:  # at least one call: it evaluates x0 (and lr="auto") for max_iter=0
            # blocks grow with the epochs run (a problem that stops early drew few orders)
            epochs = max(0, min(stop_at - base, self.most_epochs, max(16, base)))
            order, factors = self.orders(base, epochs)
            state = call(order, factors, base, base + epochs)
            base += epochs
            if base >= stop_at or ip[contract.IP_STOP_AT] < 0 or \
                    not (state[:, contract.ST_STATUS] == contract.RUNNING).any():
                return
