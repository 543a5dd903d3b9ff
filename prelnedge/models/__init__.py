"""The reference models: one file per framework (torch.py, tf.py, flax.py, mirroring each other's
names and Hugging Face's parameter paths), the model configuration (config.py) and the loader that
turns a checkpoint into a float reference (reference.py)."""
