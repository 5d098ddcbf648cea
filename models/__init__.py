"""Models built from tinygrad_edu's ops; run from the repository root.

``models.two_layer_net.TwoLayerNet`` keeps the book's API (a ``params`` dict of
ndarrays) with its gradient computed by our autograd; ``models.mlp.MLP`` is the
same idea as an ``nn.Module`` of any depth; ``python -m models.train_mnist``
trains them on MNIST.
"""
