"""The recording switches: no_grad, enable_grad, name_scope, per thread and entry."""

import threading
import time

import numpy as np
import pytest

from tinygrad_edu import Tensor, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from tinygrad_edu.errors import AnomalyError


def test_no_grad_decorates_with_and_without_parentheses():
    @no_grad
    def bare(t):
        return (t * 2).requires_grad

    @no_grad()
    def called(t):
        return (t * 2).requires_grad

    x = Tensor([1.0], requires_grad=True)
    assert bare(x) is False and called(x) is False
    assert (x * 2).requires_grad  # recording is back on afterwards


def test_a_decorated_generator_runs_each_resume_inside_the_block():
    # ContextDecorator alone covers only the call that makes the generator.
    @no_grad()
    def evaluate(batches):
        for x in batches:
            yield (x * 2).requires_grad, is_grad_enabled()
        return "done"

    w = Tensor([1.0], requires_grad=True)
    steps = evaluate([w, w])
    assert next(steps) == (False, False)
    assert is_grad_enabled() and (w * 2).requires_grad  # the caller records
    assert next(steps) == (False, False)
    with pytest.raises(StopIteration) as stop:
        next(steps)
    assert stop.value.value == "done" and is_grad_enabled()
    closed = evaluate([w])
    next(closed)
    closed.close()
    assert is_grad_enabled()


def test_no_grad_as_context_manager_and_decorator():
    w = Tensor([1.0], requires_grad=True)
    with no_grad():
        assert not (w * 2).requires_grad
        with enable_grad():
            assert (w * 2).requires_grad
    assert (w * 2).requires_grad

    @no_grad()
    def evaluate():
        return w * 2

    assert not evaluate().requires_grad
    assert is_grad_enabled()


def test_no_grad_in_one_thread_does_not_switch_off_another():
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def evaluator():
        with no_grad():
            inside.set()
            release.wait(5)
            seen["evaluator"] = is_grad_enabled()

    def trainer():
        inside.wait(5)
        seen["trainer"] = (Tensor([1.0], requires_grad=True) * 2).requires_grad
        release.set()

    threads = [threading.Thread(target=evaluator), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"evaluator": False, "trainer": True}


def test_a_decorated_function_running_in_many_threads_restores_each_state():
    @no_grad()
    def slow():
        time.sleep(0.01)
        return is_grad_enabled()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(slow())) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [False] * 8
    assert is_grad_enabled()


def test_one_no_grad_instance_nested_in_itself_restores_each_level():
    evaluating = no_grad()
    with evaluating:
        with evaluating:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        with enable_grad():
            with evaluating:
                assert not is_grad_enabled()
            assert is_grad_enabled()
    assert is_grad_enabled()


def test_one_no_grad_instance_shared_by_threads_restores_each_thread():
    """A module-level ``EVAL = no_grad()`` entered by several threads at once."""
    evaluating = no_grad()
    barrier = threading.Barrier(4)
    after = []

    def worker(index):
        if index % 2:  # half the threads start inside enable_grad's default
            with no_grad():
                run()
        else:
            run()

    def run():
        before = is_grad_enabled()
        with evaluating:
            barrier.wait(5)  # every thread is inside the same instance now
            time.sleep(0.01)
            assert not is_grad_enabled()
        after.append(is_grad_enabled() == before)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert after == [True] * 4


def test_one_detect_anomaly_instance_can_be_nested_and_reused():
    checking = detect_anomaly()
    with checking:
        with checking:
            with pytest.raises(AnomalyError):
                Tensor([0.0], requires_grad=True).log()
        with pytest.raises(AnomalyError):  # the outer block still checks
            Tensor([0.0], requires_grad=True).log()
    with np.errstate(divide="ignore"):  # and afterwards, nothing does
        assert np.isinf(Tensor([0.0], requires_grad=True).log().data).all()
