"""What the generative families (GAN, VAE) share: the task that scales data to a fixed range,
latent noise under tf.distribute, the sample-producing export parts, and the sample-quality scores
(Frechet distance in a domain classifier's feature space). A library package, not a plugin."""
