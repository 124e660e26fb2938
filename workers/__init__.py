"""What every background worker shares; each worker's own work lives in its package (transcription/, documents/, push/).

Workers import this package and `models`; nothing here imports a worker, the domain or the web app.
"""
