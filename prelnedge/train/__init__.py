"""Training the embedded default model from scratch on generated text (CPU, deterministic).

    python scripts/train_default_model.py [--smoke] [--out DIR]

`words` holds the word lists, `data` turns them into task examples (QA, sentiment, entity tags,
multiple choice, plain text for the language-model heads), `multitask` is the shared encoder with
every head, `loop` runs pre-training and multi-task fine-tuning, and `evaluate` measures the
held-out split. Nothing here is imported by the rest of prelnedge at run time.
"""
