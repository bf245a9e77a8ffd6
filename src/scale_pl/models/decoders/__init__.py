"""Decoders: from the task and server embeddings to server logits and the attention feature."""

from scale_pl.models.decoders.pointer import CrossAttentionPointer

__all__ = ["CrossAttentionPointer"]
