"""Training features that locate text by token position: the multiple-choice answer span (the QA
head's extra target on reading items) must point at the right choice's tokens in the passage, and
the span loss shared by QA and that target must be lowest on the right span."""

from __future__ import annotations

import random

import pytest
import torch

from prelnedge.runtime.tokenizer import PreLNTokenizer
from prelnedge.train import choice, features
from prelnedge.train.multitask import span_loss


@pytest.fixture(scope="module")
def tok() -> PreLNTokenizer:
    from tokenizers import Tokenizer

    from prelnedge.checkpoint.load import default_model_dir

    return PreLNTokenizer(Tokenizer.from_file(str(default_model_dir() / "tokenizer.json")), 128)


def test_a_reading_items_span_covers_exactly_its_right_choice_in_the_passage(tok):
    rng = random.Random(11)
    found = 0
    for _ in range(200):
        prompt, choices, label = choice.item(rng)
        item = {"prompt": prompt, "choices": choices, "label": label}
        span = features.choice_answer_span(tok, item)
        right = choices[label]
        if span is None:
            assert prompt.count(right) != 1  # association items, or a value written twice
            continue
        found += 1
        enc = tok.encode(prompt, choices[(label + 1) % len(choices)])  # any choice: same first segment
        start, end = enc.offsets[span[0]][0], enc.offsets[span[1]][1]
        assert prompt[start:end].strip() == right
        assert all(enc.sequence_ids[i] == 0 for i in range(span[0], span[1] + 1))
    assert found > 80  # reading items are ~60 % of items


def test_an_association_item_has_no_span(tok):
    item = {"prompt": "Bees carry", "choices": ["granite", "pollen"], "label": 1}
    assert features.choice_answer_span(tok, item) is None


def test_span_loss_is_lowest_for_the_span_its_logits_point_at():
    torch.manual_seed(0)
    s, e = torch.randn(2, 10), torch.randn(2, 10)
    s[:, 3] += 8
    e[:, 5] += 8
    mask = torch.ones(2, 10, dtype=torch.int64)
    right = span_loss(s, e, mask, torch.tensor([3, 3]), torch.tensor([5, 5]))
    wrong = span_loss(s, e, mask, torch.tensor([4, 4]), torch.tensor([6, 6]))
    assert right < 0.1 < wrong
    shorter = span_loss(s, e, mask, torch.tensor([3, 3]), torch.tensor([4, 4]))
    mask[:, 5:] = 0  # the end the logits prefer is padding now: it may not be picked
    masked = span_loss(s, e, mask, torch.tensor([3, 3]), torch.tensor([4, 4]))
    assert masked < 2 < shorter  # with the padding masked, (3, 4) is the best span left


def test_hidden_dropout_acts_in_training_only_and_adds_no_parameters():
    """The optional hidden dropout (forward hooks on the embeddings and each residual branch): the
    same weights give the same encoder output as a model without it in eval mode, and a different
    one in training mode; the state dict (what is saved and exported) has the same keys."""
    from prelnedge.config import PreLNConfig
    from prelnedge.train.multitask import MultiTaskModel

    config = PreLNConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=20)
    torch.manual_seed(0)
    plain = MultiTaskModel(config, num_tags=3)
    dropping = MultiTaskModel(config, num_tags=3, hidden_dropout=0.5)
    dropping.load_state_dict(plain.state_dict())
    assert dropping.state_dict().keys() == plain.state_dict().keys()
    ids = torch.tensor([[0, 5, 6, 7, 2, 1], [0, 8, 9, 2, 1, 1]])
    mask = (ids != 1).to(torch.int64)
    for model in (plain, dropping):
        model.eval()
    want = plain.encode(ids, mask)["last_hidden_state"]
    torch.testing.assert_close(dropping.encode(ids, mask)["last_hidden_state"], want, rtol=0, atol=0)
    dropping.train()
    assert not torch.allclose(dropping.encode(ids, mask)["last_hidden_state"], want, atol=1e-3)
