"""Checkpoints in: Hugging Face folders, DinkyTrain/fairseq files and Keras h5, read into one
canonical (Hugging Face named) numpy state dict. First stage of the flow
checkpoint -> models -> export -> quantize -> verify -> report / bundle."""
