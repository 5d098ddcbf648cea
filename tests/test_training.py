"""Training utilities: gradient clipping, lr schedules, DataLoader, manual_seed."""

import math

import numpy as np
import pytest

from tinygrad_edu import (
    DomainError,
    DTypeError,
    ShapeError,
    StateDictError,
    Tensor,
    load,
    manual_seed,
    nn,
    optim,
    save,
)
from tinygrad_edu.datasets import DataLoader, Dataset, TensorDataset
from tinygrad_edu.optim import lr_scheduler

# ------------------------------------------------------------ clipping


def with_grads(*grads):
    params = [nn.Parameter(np.zeros(len(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = Tensor(np.array(g, dtype=float))
    return params


def test_clip_grad_norm_scales_all_gradients_together():
    a, b = with_grads([3.0, 0.0], [0.0, 4.0])  # joint norm 5
    assert nn.clip_grad_norm_([a, b], max_norm=2.5) == 5.0
    scale = 2.5 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3.0 * scale, 0.0])
    np.testing.assert_allclose(b.grad.data, [0.0, 4.0 * scale])
    c, d = with_grads([3.0, 0.0], [0.0, 4.0])
    assert nn.clip_grad_norm_([c, d], max_norm=10.0) == 5.0  # under: unchanged
    np.testing.assert_array_equal(d.grad.data, [0.0, 4.0])
    (e,) = with_grads([-3.0, 1.0])
    assert nn.clip_grad_norm_(e, 1.5, norm_type=math.inf) == 3.0
    np.testing.assert_allclose(e.grad.data, [-1.5, 0.5], rtol=1e-6)


def test_clip_grad_norm_skips_parameters_without_gradients_and_refuses_nan():
    (a,) = with_grads([1.0])
    assert nn.clip_grad_norm_([a, nn.Parameter([2.0])], 1.0) == 1.0
    assert nn.clip_grad_norm_([nn.Parameter([2.0])], 1.0) == 0.0
    (n,) = with_grads([np.nan])
    with pytest.raises(DomainError, match=r"clip_grad_norm_: the gradients' norm"):
        nn.clip_grad_norm_([n], 1.0)
    with pytest.raises(DomainError, match=r"max_norm >= 0"):
        nn.clip_grad_norm_([a], -1.0)
    with pytest.raises(DTypeError, match=r"parameters\[0\] is a ndarray"):
        nn.clip_grad_norm_([np.ones(2)], 1.0)


def test_clip_grad_value_clips_each_element():
    (a,) = with_grads([-5.0, 0.5, 2.0])
    nn.clip_grad_value_([a], 1.0)
    np.testing.assert_array_equal(a.grad.data, [-1.0, 0.5, 1.0])
    with pytest.raises(DomainError, match=r"clip_value must be >= 0"):
        nn.clip_grad_value_([a], -1.0)


# ------------------------------------------------------------ schedules
# Reference rates derived by hand from each schedule's formula.


def rates(make_schedule, epochs, groups=None):
    p = nn.Parameter([1.0])
    opt = optim.SGD(groups([p]) if groups else [p], lr=0.1)
    schedule = make_schedule(opt)
    seen = []
    for _ in range(epochs):
        seen.append(schedule.get_last_lr())
        opt.step()
        schedule.step()
    return seen


def test_step_lr():
    got = rates(lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), 5)
    assert got == [[0.1], [0.1], [0.05], [0.05], [0.025]]


def test_cosine_annealing_lr_reaches_eta_min_at_t_max():
    got = rates(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.02), 5)
    # eta_min + (0.1 - eta_min) (1 + cos(pi e / 4)) / 2: 0.1, 0.0883, 0.06, 0.0317, 0.02
    half = (1 + math.sqrt(0.5)) / 2
    expected = [0.1, 0.02 + 0.08 * half, 0.06, 0.02 + 0.08 * (1 - half), 0.02]
    np.testing.assert_allclose([r[0] for r in got], expected, rtol=1e-12)


def test_lambda_lr_per_group():
    def groups(params):
        return [{"params": params}, {"params": [nn.Parameter([1.0])], "lr": 1.0}]

    got = rates(
        lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5**e]),
        3,
        groups,
    )
    np.testing.assert_allclose(got, [[0.1, 1.0], [0.05, 0.5], [0.1 / 3, 0.25]])


def test_a_schedule_drives_the_steps_of_the_optimizer():
    """The optimizer moves by the scheduled lr: SGD on the loss p (g = 1)."""
    p = nn.Parameter([0.0])
    opt = optim.SGD([p], lr=0.1)
    schedule = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    for _ in range(3):
        p.grad = Tensor([1.0])
        opt.step()
        schedule.step()
    np.testing.assert_allclose(p.data, [-(0.1 + 0.01 + 0.001)])


def test_a_schedule_resumes_from_its_state(tmp_path):
    p = nn.Parameter([1.0])
    opt = optim.Adam([p], lr=0.1)
    schedule = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        schedule.step()
    save(schedule.state_dict(), tmp_path / "schedule.npz")
    fresh_opt = optim.Adam([p], lr=0.1)
    fresh = lr_scheduler.CosineAnnealingLR(fresh_opt, T_max=10)
    fresh.load_state_dict(load(tmp_path / "schedule.npz"))
    assert fresh.last_epoch == 3 and fresh_opt.lr == opt.lr
    fresh.step()
    schedule.step()
    assert fresh_opt.lr == opt.lr
    with pytest.raises(StateDictError, match=r"CosineAnnealingLR.load_state_dict"):
        fresh.load_state_dict({"epoch": 3})


def test_schedules_check_their_arguments():
    opt = optim.SGD([nn.Parameter([1.0])], lr=0.1)
    with pytest.raises(DomainError, match=r"StepLR: step_size must be positive"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(DTypeError, match=r"StepLR: expects an optimizer"):
        lr_scheduler.StepLR("sgd", step_size=1)
    with pytest.raises(DTypeError, match=r"LambdaLR: lr_lambda must be a function"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(DomainError, match=r"LambdaLR: lr_lambda\(0\) returned -1"):
        lr_scheduler.LambdaLR(opt, lambda e: -1)


# ------------------------------------------------------------ data


def test_data_loader_batches_every_sample_once_with_len():
    x, t = np.arange(20.0).reshape(10, 2), np.arange(10)
    loader = DataLoader(TensorDataset(x, t), batch_size=4, shuffle=True, rng=0)
    assert len(loader) == 3
    epochs = [[tb.numpy().tolist() for _, tb in loader] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(i for b in batches for i in b) == list(range(10))
    assert epochs[0] != epochs[1]  # a fresh order each epoch
    xb, tb = next(iter(loader))
    assert isinstance(xb, Tensor) and np.array_equal(xb.numpy()[:, 0], 2 * tb.numpy())
    dropped = DataLoader(TensorDataset(x, t), batch_size=4, drop_last=True)
    assert len(dropped) == 2 == len(list(dropped))


def test_data_loader_shuffle_repeats_with_a_seed_and_with_manual_seed():
    ds = TensorDataset(np.arange(50))

    def order(**kwargs):
        return np.concatenate([b.numpy() for (b,) in DataLoader(ds, 7, True, **kwargs)])

    assert np.array_equal(order(rng=3), order(rng=3))
    manual_seed(5)
    first = order()
    manual_seed(5)
    assert np.array_equal(first, order())
    assert not np.array_equal(first, np.arange(50))


def test_data_loader_stacks_the_samples_of_a_plain_dataset():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=float), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[1].numpy().tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    np.testing.assert_array_equal(batches[1][0].numpy(), [[2, 4], [3, 9]])


def test_samples_that_are_one_array_make_one_tensor_per_batch():
    # zip(*samples) split each (2, 3) sample into rows: two Tensors of (4, 3).
    class Images(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((2, 3), float(i))

    batches = list(DataLoader(Images(), batch_size=4))
    assert [type(b) for b in batches] == [Tensor, Tensor]
    assert [b.shape for b in batches] == [(4, 2, 3), (1, 2, 3)]
    np.testing.assert_array_equal(batches[1].numpy(), np.full((1, 2, 3), 4.0))


def test_a_batch_changed_in_place_leaves_the_dataset_alone():
    x, t = np.arange(6.0).reshape(3, 2), np.arange(3)
    xb, _ = next(iter(DataLoader(TensorDataset(x, t), batch_size=2)))
    xb.numpy()[...] = 0
    assert x.sum() == 15.0


def test_a_second_schedule_on_one_optimizer_is_refused():
    # Each sets lr from its own closed form: StepLR after a warm-up LambdaLR
    # silently overwrote the warm-up at every step.
    opt = optim.SGD([nn.Parameter([1.0])], lr=0.1)
    warmup = lr_scheduler.LambdaLR(opt, lambda epoch: min(1.0, (epoch + 1) / 5))
    with pytest.raises(DomainError, match=r"StepLR: .* already has a LambdaLR.*del"):
        lr_scheduler.StepLR(opt, step_size=2)
    del warmup
    assert lr_scheduler.StepLR(opt, step_size=2).last_epoch == 0  # now it may
    other = optim.SGD([nn.Parameter([1.0])], lr=0.1)  # one schedule per optimizer
    lr_scheduler.StepLR(other, step_size=2)


def test_update_refuses_parameter_names_that_are_not_strings():
    # state_dict() keys are text: an int name came back as '0' on reload, and
    # the resumed Adam silently started from zero state.
    with pytest.raises(DTypeError, match=r"update: parameter names must be strings.*0"):
        optim.Adam(lr=0.1).update({0: np.ones(2)}, {0: np.ones(2)})


def test_data_errors():
    with pytest.raises(ShapeError, match=r"TensorDataset: .*array 1 \(3,\)"):
        TensorDataset(np.ones((4, 2)), np.ones(3))
    with pytest.raises(DomainError, match=r"DataLoader: batch_size must be a pos"):
        DataLoader(TensorDataset(np.ones(3)), batch_size=0)
    with pytest.raises(DTypeError, match=r"DataLoader: dataset must have __len__"):
        DataLoader(42)


def test_manual_seed_repeats_initial_weights_and_randn():
    manual_seed(7)
    w, r, u = nn.Linear(3, 2).weight.numpy().copy(), Tensor.randn(3), Tensor.rand(2)
    manual_seed(7)
    assert np.array_equal(nn.Linear(3, 2).weight.numpy(), w)
    assert np.array_equal(Tensor.randn(3).numpy(), r.numpy())
    assert np.array_equal(Tensor.rand(2).numpy(), u.numpy())
    assert ((0 <= u.numpy()) & (u.numpy() < 1)).all()
    with pytest.raises(DomainError, match=r"manual_seed: seed must be in"):
        manual_seed(-1)
