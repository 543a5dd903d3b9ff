// The prelnedge Android demo: `app` (the Android application) and `core` (plain Java: tokenizer,
// post-processing, golden self-check; no Android imports, so it is tested on a desktop JVM).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google() // LiteRT is published on Google's Maven repository
        mavenCentral()
    }
}

rootProject.name = "prelnedge-android-demo"
include(":core", ":app")
