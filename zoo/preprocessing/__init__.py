"""What turns a raw example into model input, as Keras layers saved with the model.

`features` describes the raw inputs a dataset gives (no TensorFlow); `fit` adapts Keras
preprocessing layers on the training split; `assemble` joins the fitted preprocessor and a
family's network into the model that is saved, evaluated and exported.
"""
