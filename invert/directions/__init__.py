"""Semantic directions in W: finding, naming, fetching and reading them. One module per job:

    resolve          'smile', 'ganspace:12', 'set.safetensors:3', 'boundary.npy' -> a `Direction`
    registry         manifests of names, keyed by network fingerprint (boundaries register/list)
    boundary_file    one direction as .npy (+ JSON sidecar)
    direction_set    K directions with their std and the mean of W, as .safetensors
    catalogue        published directions for the official FFHQ network, fetched on first use
    interfacegan     InterfaceGAN training: a linear SVM on the extremes of an attribute
    sampling         labelled samples for it: render latents and score them with dlib
    scores           reading your own scores (CSV)
    discover         SeFa and GANSpace: directions of any network without labels
    contact_sheet    a labelled preview PNG of a direction set

Editing along a direction is `invert.editing.apply_direction`.
"""
