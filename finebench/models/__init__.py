"""Model cards and offline model builders."""
