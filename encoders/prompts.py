"""Retrieval prompts that end in [MASK] positions (DiffRetriever's input format).

DiffRetriever asks a diffusion LM, in its own chat format, for one word that represents the
text, and reads the last-layer state at the masked answer position. The chat markup comes from
the checkpoint's own chat template (``tokenizer.apply_chat_template``), so Dream gets Qwen's
``<|im_start|>`` turns and LLaDA its Llama-3-style headers, exactly as the model was trained.
"""

from __future__ import annotations

from typing import Any

from encoders.errors import EncoderError
from encoders.presets import MaskSlot

# Stands in for the text while the chat template is rendered; split out afterwards.
_SENTINEL = "\u2063TEXT\u2063"


def chat_wrapped(tokenizer: Any, slot: MaskSlot, user_template: str) -> str:
    """``user_template`` (with ``{text}``) inside the tokenizer's chat template.

    Returns:
        A template string with ``{text}`` once: system turn, user turn holding
        ``user_template``, the generation prompt, then ``slot.assistant_prefix``.

    Raises:
        EncoderError: The tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise EncoderError(
            "this preset wraps texts in the model's chat template, but the tokenizer has none "
            "(no chat_template in tokenizer_config.json): is this the right weights folder?"
        )
    user = user_template.replace("{instruction}", "").replace("{text}", _SENTINEL)
    messages = [{"role": "system", "content": slot.system}, {"role": "user", "content": user}]
    rendered = str(
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    )
    if rendered.count(_SENTINEL) != 1:
        raise EncoderError("the chat template did not keep the text in one place")
    # Braces in the rendered markup must survive SequenceBuilder's {text} split untouched.
    return rendered.replace(_SENTINEL, "{text}") + slot.assistant_prefix


def _single_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` if the vocabulary has it as one token, else None."""
    tid = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(tid, int) and tid >= 0 and tid != unk:
        return tid
    return None


def slot_ids(tokenizer: Any, slot: MaskSlot) -> list[int]:
    """``count`` mask ids, then the closing tail (quote, end of turn, EOS; ``slot.tail`` ids).

    Raises:
        EncoderError: The mask token is not in the vocabulary, or the tokenizer has no EOS.
    """
    mask = _single_id(tokenizer, slot.token)
    if mask is None:
        raise EncoderError(
            f"the tokenizer has no mask token {slot.token!r}: this preset needs the diffusion "
            "LM's own tokenizer"
        )
    eos = tokenizer.eos_token_id
    if eos is None:
        raise EncoderError("the tokenizer has no EOS token, which closes the mask prompt")
    tail: list[int] = []
    quote = tokenizer(slot.quote, add_special_tokens=False)["input_ids"]
    tail.append(int(quote[0]) if len(quote) == 1 else int(eos))
    for token in slot.end_of_turn:
        tid = _single_id(tokenizer, token)
        if tid is not None and tid != eos:
            tail.append(tid)
            break
    tail += [int(eos)] * max(0, slot.tail - len(tail))
    return [mask] * slot.count + tail[: slot.tail]
