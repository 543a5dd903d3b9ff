plugins {
    id("com.android.application")
}

android {
    namespace = "org.prelnedge.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.prelnedge.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // model.tflite is memory-mapped straight from the APK, which needs it stored uncompressed.
        noCompress.add("tflite")
        noCompress.add("ort")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
}

dependencies {
    implementation(project(":core"))
    // LiteRT (formerly TensorFlow Lite). The 1.x line ships the org.tensorflow.lite.Interpreter API
    // this app uses; the 2.x artifacts centre on the CompiledModel API and, per google-ai-edge/LiteRT
    // issue 4775, no longer carry Interpreter.
    implementation("com.google.ai.edge.litert:litert:1.4.1")
    // ONNX Runtime for bundles holding model.ort (ONNX exports). Pinned to the onnxruntime version
    // that converts the model (an ORT-format file needs a runtime at least as new as its writer).
    implementation("com.microsoft.onnxruntime:onnxruntime-android:1.32.0")
}
