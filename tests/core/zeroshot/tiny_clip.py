"""A tiny random CLIP model folder (config, weights, processor) for the image zero-shot plumbing; no download."""


def save_tiny_clip(folder):
    import torch
    import transformers

    from tlstudio.core.zoo.text_sources import bundled_model_folder

    tok = transformers.AutoTokenizer.from_pretrained(bundled_model_folder())     # real word pieces, offline
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, bos_token_id=tok.cls_token_id,
                         eos_token_id=tok.sep_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8), projection_dim=16)
    torch.manual_seed(0)
    transformers.CLIPModel(cfg).save_pretrained(folder)
    image = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    transformers.CLIPProcessor(image_processor=image, tokenizer=tok).save_pretrained(folder)
    return folder
