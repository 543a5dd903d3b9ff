"""One model file per framework (torch.py now; tf.py and flax.py mirror its names)."""
