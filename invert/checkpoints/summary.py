"""A plain description of a loaded generator, for `info` and for metadata of every output."""


def describe(generator):
    config, source = generator.config, generator.source
    return {
        "format": source.get("format"),
        "path": source.get("path"),
        "sha256": source.get("sha256"),
        "random_weights": bool(source.get("random")),
        "resolution": config.resolution,
        "num_ws": config.num_ws,
        "z_dim": config.z_dim,
        "w_dim": config.w_dim,
        "mapping_layers": config.mapping_layers,
        "mapping_lr_multiplier": config.mapping_lr_multiplier,
        "channels": {str(res): ch for res, ch in sorted(config.channels.items())},
        "conv_clamp": config.conv_clamp,
        "noise_maps": config.num_ws - 1,
        "parameters": sum(p.numel() for p in generator.parameters()),
    }
